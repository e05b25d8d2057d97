"""W&B extras: the resolved data mixture and the stage setup in the run config, skipped samples in
the run summary. (Loss, learning rates, throughput and timings are logged by `LLaVATrainer.log`
through the Trainer's own W&B callback.) Only rank 0 has a W&B run; elsewhere these do nothing.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from transformers import TrainerCallback


def _wandb_run():
    try:
        import wandb
    except ImportError:
        return None
    return wandb.run


class MixtureLoggingCallback(TrainerCallback):
    def __init__(self, mixture_summary: dict, model_args, data_args, model_kind: str, packing: bool) -> None:
        self.payload = {
            "data_mixture": mixture_summary,
            "data_counts": {d["name"]: d["num_used"] for d in mixture_summary["datasets"]},
            "model_args": asdict(model_args),
            "data_args": asdict(data_args),
            "start_from": model_kind,
            "packing": packing,
        }

    def on_train_begin(self, args, state, control, **kwargs):
        run = _wandb_run()
        if run is not None and state.is_world_process_zero:
            run.config.update(self.payload, allow_val_change=True)

    @staticmethod
    def log_final(skipped_summary: dict) -> None:
        run = _wandb_run()
        if run is not None:
            run.summary["skipped_samples"] = skipped_summary


class PartitionReportCallback(TrainerCallback):
    """Writes, per rank, how many parameter elements this rank stores under ZeRO-3 vs the model
    total (`zero3_partition_rank{R}.json`): evidence that partitioning is real (about 1/world each)."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is None:
            return
        local = total = 0
        for p in model.parameters():
            full = int(getattr(p, "ds_numel", 0) or p.numel())
            total += full
            tensor = getattr(p, "ds_tensor", None)
            local += int(tensor.numel()) if tensor is not None else full
        out = Path(args.output_dir) / f"zero3_partition_rank{args.process_index}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"rank": args.process_index, "world_size": args.world_size,
                                   "local_elements": local, "total_elements": total}))
