"""Save a checkpoint and stop when Slurm announces preemption or the time limit (SIGUSR1).

The sbatch template (`scripts/zero3/slurm/train.sbatch`) asks Slurm for `--signal=B:USR1@N`; the
batch script traps it and writes the stop file named by `$LLAVA_PREEMPT_FILE` on the shared output
folder (a signal cannot be forwarded through torchrun, which dies on SIGUSR1). SIGUSR1 delivered
to a training process directly (e.g. `scancel --signal=USR1 JOB`) works too. After each optimizer
step all ranks agree (one all-reduce of a flag, so no rank stops a step before the others and hangs
a collective), the Trainer writes `checkpoint-N` (DeepSpeed shards included) and stops. The batch
script then requeues the job, and the requeued job resumes from that checkpoint.
"""
from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

STOP_FILE_ENV = "LLAVA_PREEMPT_FILE"

_state = {"requested": False, "preempted": False}


def _on_signal(signum, frame) -> None:  # keep tiny: runs between bytecodes of the training loop
    _state["requested"] = True


def was_preempted() -> bool:
    """True once training stopped because of the preemption signal (skip the final export/push then)."""
    return _state["preempted"]


def preemption_requested() -> bool:
    stop_file = os.environ.get(STOP_FILE_ENV)
    return _state["requested"] or bool(stop_file and Path(stop_file).exists())


class PreemptionCallback(TrainerCallback):
    """On SIGUSR1: checkpoint at the end of the current step on every rank, then stop training."""

    def __init__(self, signum: int = signal.SIGUSR1):
        self.signum = signum
        signal.signal(signum, _on_signal)

    @staticmethod
    def _agreed(flag: bool, device) -> bool:
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return flag
        backend = dist.get_backend()
        t = torch.tensor([1 if flag else 0], dtype=torch.int32,
                         device=device if backend == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def on_step_end(self, args, state, control, **kwargs):
        if self._agreed(preemption_requested(), args.device):
            if not _state["preempted"]:
                logger.warning("preemption signal: saving checkpoint-%d and stopping", state.global_step)
            _state["preempted"] = True
            control.should_save = True
            control.should_training_stop = True
        return control


def install_preemption_handler(trainer, signum: int = signal.SIGUSR1) -> PreemptionCallback:
    """Register the callback on a `transformers.Trainer` (call on every rank, before `trainer.train()`)."""
    callback = PreemptionCallback(signum)
    trainer.add_callback(callback)
    return callback
