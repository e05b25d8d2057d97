"""`LLaVATrainer`: the HF Trainer with what multimodal stage training needs.

- the optimizer has one learning rate per part (language model, vision tower, projector), each
  split into decay / no-decay as usual; DeepSpeedCPUAdam when the optimizer is offloaded;
- a length/modality-grouped sampler that is deterministic per epoch (resume skips exactly the
  consumed batches);
- saving writes a complete LLaVA-NeXT-layout checkpoint (consolidated safetensors gathered module
  by module under ZeRO-3, config, tokenizer, image processor) at every checkpoint and at the end;
- extra metrics: per-group learning rates, tokens/s and samples/s, data time vs step time, GPU
  memory; skipped samples are collected from the batches and reported at the end;
- resuming unpickles checkpoint-N/ restricted to weights (llava/utils/safe_unpickle.py) unless
  `--trust_checkpoint True`.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import time
from pathlib import Path

import torch
from transformers import Trainer

from llava.data.bad_samples import BadSampleLog
from llava.data.sampler import LengthGroupedSampler, SeededRandomSampler
from llava.train.consolidated_save import save_consolidated_weights
from llava.train.deepspeed_config import offloads_optimizer
from llava.train.parts import GROUP_NAMES, LLM, PROJECTOR, VISION, part_of_parameters
from llava.utils.safe_unpickle import UnsafeLoaderError, restricted_torch_load

logger = logging.getLogger(__name__)

OPTIMIZER_GROUPS_FILE = "optimizer_groups.json"
TRUST_FLAG = "--trust_checkpoint True (stage scripts: TRUST_CHECKPOINT=1)"
# The Trainer methods inside which checkpoint files are unpickled on resume (DeepSpeed's
# load_checkpoint runs in _prepare_for_training, the RNG states load at the first resumed step).
RESUME_LOADERS = ("_load_from_checkpoint", "_prepare_for_training", "_load_rng_state")


class LLaVATrainer(Trainer):
    def __init__(self, *args, save_extras=None, lengths=None, has_image=None, **kwargs) -> None:
        """`save_extras(output_dir)` writes config / tokenizer / image processor next to the weights
        (rank 0 only); `lengths` / `has_image` feed the grouped sampler. Packed batches (one row,
        see llava/data/collator.py) go to the model as they are: it accepts them natively."""
        super().__init__(*args, **kwargs)
        self.save_extras = save_extras
        self.lengths, self.has_image = lengths, has_image
        self.bad_samples = BadSampleLog()
        self._window = {"data": 0.0, "step": 0.0, "tokens": 0, "samples": 0, "t0": None}

    # ---- data ----------------------------------------------------------------------------------

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        if self.lengths is not None:
            return LengthGroupedSampler(self.lengths, self.has_image, self.args.per_device_train_batch_size,
                                        self.args.world_size, seed=seed)
        return SeededRandomSampler(len(dataset), seed=seed)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        start = time.perf_counter()
        out = super().get_batch_samples(epoch_iterator, num_batches, device)
        self._window["data"] += time.perf_counter() - start
        if self._window["t0"] is None:
            self._window["t0"] = start
        return out

    def training_step(self, model, inputs, num_items_in_batch=None):
        meta = inputs.pop("meta", None)
        if meta:
            self.bad_samples.extend(meta["skipped"])
            self._window["tokens"] += meta["num_tokens"]
            self._window["samples"] += meta["num_samples"]
        start = time.perf_counter()
        loss = super().training_step(model, inputs, num_items_in_batch)
        self._window["step"] += time.perf_counter() - start
        return loss

    # ---- optimizer -----------------------------------------------------------------------------

    def part_learning_rates(self) -> dict[str, float]:
        lr = self.args.learning_rate
        return {LLM: lr, VISION: self.args.mm_vision_tower_lr or lr, PROJECTOR: self.args.mm_projector_lr or lr}

    def create_optimizer(self, model=None):
        if self.optimizer is not None:
            return self.optimizer
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        which = part_of_parameters(opt_model)
        lrs = self.part_learning_rates()
        groups, summary = [], []
        for part in (LLM, VISION, PROJECTOR):
            for decayed in (True, False):
                named = [(n, p) for n, p in opt_model.named_parameters()
                         if p.requires_grad and which[id(p)] == part and (n in decay) == decayed]
                if not named:
                    continue
                name = GROUP_NAMES[part] + ("" if decayed else "_no_decay")
                wd = self.args.weight_decay if decayed else 0.0
                groups.append({"params": [p for _, p in named], "lr": lrs[part], "weight_decay": wd, "name": name})
                summary.append({"name": name, "part": part, "lr": lrs[part], "weight_decay": wd,
                                "num_tensors": len(named),
                                "num_parameters": sum(int(getattr(p, "ds_numel", 0) or p.numel()) for _, p in named),
                                "parameter_names": [n for n, _ in named]})
        if not groups:
            raise ValueError("no trainable parameters: check --mm_tunable_parts")
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        ds_config = self.accelerator.state.deepspeed_plugin.deepspeed_config if self.is_deepspeed_enabled else None
        if ds_config is not None and offloads_optimizer(ds_config) and torch.cuda.is_available():
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            # Offloaded optimizer state lives on the CPU: DeepSpeed's vectorised CPU Adam, same groups.
            self.optimizer = DeepSpeedCPUAdam(groups, lr=self.args.learning_rate,
                                              betas=(self.args.adam_beta1, self.args.adam_beta2),
                                              eps=self.args.adam_epsilon, weight_decay=self.args.weight_decay,
                                              adamw_mode=True)
        else:
            if ds_config is not None and offloads_optimizer(ds_config):
                # CPU-only machine: every tensor is on the CPU already, torch's AdamW is the CPU
                # optimizer (and needs no compiled op); tell DeepSpeed that is intended.
                ds_config["zero_force_ds_cpu_optimizer"] = False
            optimizer_kwargs.pop("lr", None)
            self.optimizer = optimizer_cls(groups, lr=self.args.learning_rate, **optimizer_kwargs)
        for g in summary:
            logger.info("optimizer group %-22s lr=%g weight_decay=%g tensors=%d params=%d", g["name"], g["lr"],
                        g["weight_decay"], g["num_tensors"], g["num_parameters"])
        if self.args.should_save:
            Path(self.args.output_dir).mkdir(parents=True, exist_ok=True)
            (Path(self.args.output_dir) / OPTIMIZER_GROUPS_FILE).write_text(json.dumps(
                {"optimizer": type(self.optimizer).__name__, "groups": summary}, indent=1))
        return self.optimizer

    # ---- logging -------------------------------------------------------------------------------

    def _get_learning_rate(self) -> float:
        # Called right after the optimizer step, before the scheduler moves on: snapshot every
        # group's rate here so `lr/<part>` matches the Trainer's `learning_rate` (the rate used).
        if self.optimizer is not None:
            self._group_lrs = {g["name"]: float(g["lr"]) for g in self.optimizer.param_groups
                               if g.get("name") and not g["name"].endswith("_no_decay")}
        return super()._get_learning_rate()

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs and self.optimizer is not None:
            for name, lr in getattr(self, "_group_lrs", {}).items():
                logs[f"lr/{name}"] = lr
            w = self._window
            if w["t0"] is not None:
                elapsed = max(time.perf_counter() - w["t0"], 1e-9)
                world = self.args.world_size
                logs["tokens_per_s"] = w["tokens"] * world / elapsed  # every rank sees about the same
                logs["samples_per_s"] = w["samples"] * world / elapsed
                logs["data_time_s"] = w["data"]
                logs["step_time_s"] = w["step"]
                logs["data_time_fraction"] = w["data"] / elapsed
            self._window = {"data": 0.0, "step": 0.0, "tokens": 0, "samples": 0, "t0": time.perf_counter()}
            if torch.cuda.is_available():
                logs["gpu/max_memory_allocated_gb"] = torch.cuda.max_memory_allocated() / 1024**3
                logs["gpu/memory_reserved_gb"] = torch.cuda.memory_reserved() / 1024**3
            logs["data/skipped_samples_seen"] = len(self.bad_samples)
        super().log(logs, start_time)

    # ---- resuming ------------------------------------------------------------------------------
    # Every resume-time unpickling runs inside RESUME_LOADERS; each is wrapped so that torch.load
    # there (DeepSpeed's weights_only=False included) accepts weights and the allowlist only.

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if resume_from_checkpoint and not self.args.trust_checkpoint:
            missing = [n for n in RESUME_LOADERS if not callable(getattr(Trainer, n, None))]
            if missing:
                raise UnsafeLoaderError(f"transformers.Trainer has no {missing[0]} (installed version changed?), so "
                                        f"resuming cannot be restricted to weights: rerun with {TRUST_FLAG} if "
                                        f"you trust {resume_from_checkpoint}")
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _restricted(self, checkpoint):
        return restricted_torch_load(TRUST_FLAG, trust=self.args.trust_checkpoint, what=str(checkpoint))

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        with self._restricted(resume_from_checkpoint):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _prepare_for_training(self, max_steps, train_dataloader, resume_from_checkpoint):
        if resume_from_checkpoint is None:
            return super()._prepare_for_training(max_steps, train_dataloader, resume_from_checkpoint)
        with self._restricted(resume_from_checkpoint) as guard:
            out = super()._prepare_for_training(max_steps, train_dataloader, resume_from_checkpoint)
        if self.is_deepspeed_enabled:
            guard.require_read(_own_zero_files(resume_from_checkpoint, self.args.process_index),
                               "DeepSpeed's load_checkpoint")
        return out

    def _load_rng_state(self, checkpoint):
        with self._restricted(checkpoint):
            return super()._load_rng_state(checkpoint)

    def _load_best_model(self):  # --load_best_model_at_end: one of this run's own checkpoints
        with self._restricted(self.state.best_model_checkpoint):
            return super()._load_best_model()

    # ---- saving --------------------------------------------------------------------------------

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """A complete LLaVA-NeXT-layout checkpoint; all ranks must call it (gathers are collectives)."""
        output_dir = output_dir or self.args.output_dir
        model = self.model_wrapped if self.is_deepspeed_enabled else self.model
        save_consolidated_weights(model, output_dir, self.args.should_save)
        if self.args.should_save:
            if self.save_extras is not None:
                self.save_extras(output_dir)
            torch.save(_without_tokens(self.args), os.path.join(output_dir, "training_args.bin"))
        if self.args.world_size > 1:
            torch.distributed.barrier()

    def finish_report(self) -> BadSampleLog:
        """Merge skipped samples of all ranks (collective); rank 0 writes the JSON report."""
        merged = self.bad_samples.gather()
        if self.args.should_save:
            merged.log_summary()
        return merged


def _own_zero_files(checkpoint: str, rank: int) -> list[Path]:
    """This rank's DeepSpeed model-states file in the checkpoint's current tag (what it must load)."""
    latest = Path(checkpoint) / "latest"
    tag = latest.read_text().strip() if latest.is_file() else "global_step*"
    return sorted(Path(checkpoint).glob(f"{tag}/zero_pp_rank_{rank}_mp_rank_*_model_states.pt"))


def _without_tokens(args):
    """The arguments as training_args.bin keeps them, without `*_token` values: to_dict() masks them
    for llava_train_args.json and W&B, but the pickle would hold them in clear."""
    clean = copy.copy(args)
    for f in dataclasses.fields(args):
        if f.name.endswith("_token") and getattr(args, f.name, None):
            setattr(clean, f.name, None)
    return clean
