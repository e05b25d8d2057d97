"""W&B extras: the resolved data mixture and the stage setup in the run config, skipped samples in
the run summary. (Loss, learning rates, throughput and timings are logged by `LLaVATrainer.log`
through the Trainer's own W&B callback.) Only rank 0 has a W&B run; elsewhere these do nothing.
"""
from __future__ import annotations

from dataclasses import asdict

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
