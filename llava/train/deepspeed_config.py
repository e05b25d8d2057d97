"""Checks on the DeepSpeed JSON before the Trainer sees it.

An `"optimizer"` (or `"scheduler"`) block makes DeepSpeed build its own single-learning-rate
optimizer (or a scheduler that sets every group to one LR), silently dropping the separate
vision-tower and projector learning rates. We refuse such configs with a message saying what to
remove; the trainer builds AdamW with its three LR groups and the Trainer's scheduler.
"""
from __future__ import annotations

import json
from pathlib import Path


class DeepSpeedConfigError(ValueError):
    pass


def load_deepspeed_config(path_or_dict: str | Path | dict) -> dict:
    if isinstance(path_or_dict, dict):
        cfg, where = dict(path_or_dict), "--deepspeed (dict)"
    else:
        path = Path(path_or_dict)
        if not path.is_file():
            raise DeepSpeedConfigError(f"--deepspeed: config file {path} does not exist "
                                       "(use scripts/zero3/zero3.json or zero3_offload.json)")
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise DeepSpeedConfigError(f"--deepspeed: {path} is not valid JSON ({e})") from e
        where = str(path)
    for block in ("optimizer", "scheduler"):
        if block in cfg:
            raise DeepSpeedConfigError(
                f"{where}: has a {block!r} block. DeepSpeed would then build its own {block} with a single "
                "learning rate and the separate --mm_vision_tower_lr / --mm_projector_lr would be silently "
                f"ignored. Remove the {block!r} block: the trainer builds AdamW with per-part learning rates "
                "and the schedule comes from --lr_scheduler_type / --warmup_ratio.")
    return cfg


def offloads_optimizer(cfg: dict | None) -> bool:
    off = (cfg or {}).get("zero_optimization", {}).get("offload_optimizer") or {}
    return off.get("device", "none") in ("cpu", "nvme")


def skip_cpu_shm_comm_build() -> None:
    """On a CPU-only machine, DeepSpeed JIT-compiles its shared-memory all-reduce op when its comm
    layer starts (measured ~55 s on 2 cores, the first run on a machine). Only tensor-parallel
    inference calls that op (`inference_all_reduce`); ZeRO training talks through the torch process
    group. Marking the op incompatible in DeepSpeed's per-process table skips the build."""
    import torch

    if torch.cuda.is_available():
        return
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    if accelerator.device_name() != "cpu":
        return
    builder = accelerator.create_op_builder("ShareMemCommBuilder")
    if builder is not None:
        deepspeed.ops.__compatible_ops__[builder.NAME] = False
