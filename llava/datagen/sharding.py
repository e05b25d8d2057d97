"""Deterministic shards: item `i` belongs to shard `i % num_shards`.

Round-robin spreads every dataset (and long and short items) evenly over the shards. The shard
comes from `--num-shards/--shard-id`, or from a Slurm job array (`sbatch --array=0-15`).
"""
from __future__ import annotations

import os


def resolve_shard(num_shards: int | None, shard_id: int | None, env: dict | None = None) -> tuple[int, int]:
    """(shard_id, num_shards) from the flags, else the Slurm array variables, else (0, 1).

    Without flags, an array `--array=0-15` gives shards 0..15 of 16. When only some tasks are
    resubmitted (`--array=3,7`) the array size no longer equals the shard count: pass
    `--num-shards` then (the task id is used as the shard id).
    """
    env = os.environ if env is None else env
    if num_shards is None and shard_id is None and "SLURM_ARRAY_TASK_ID" in env:
        try:
            task = int(env["SLURM_ARRAY_TASK_ID"])
            num_shards = int(env["SLURM_ARRAY_TASK_COUNT"])
            shard_id = task - int(env.get("SLURM_ARRAY_TASK_MIN", 0))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"cannot derive the shard from the Slurm array variables ({exc}); pass --num-shards and "
                             f"--shard-id") from exc
        if int(env.get("SLURM_ARRAY_TASK_STEP", 1)) != 1:
            raise ValueError("Slurm array with a step (e.g. 0-15:2) cannot map to shards; use --array=0-N")
    elif shard_id is None and num_shards is not None and "SLURM_ARRAY_TASK_ID" in env:
        # `--num-shards N` in an array: the task id is the shard (safe when only some tasks are resubmitted)
        shard_id = int(env["SLURM_ARRAY_TASK_ID"])
    num_shards = 1 if num_shards is None else num_shards
    shard_id = 0 if shard_id is None else shard_id
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"--shard-id {shard_id} is outside 0..{num_shards - 1} (--num-shards {num_shards})")
    return shard_id, num_shards


def shard_indices(num_items: int, shard_id: int, num_shards: int) -> range:
    return range(shard_id, num_items, num_shards)
