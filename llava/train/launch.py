"""`python -m llava.train.launch [torchrun options] -m llava.train.train ...`: torchrun, but a failed
run ends with its root error printed once, last; and its workers die with it.

torchrun itself answers a failed worker with about 30 lines (its own traceback and a failure table)
under the worker's real error. This runs torchrun's launcher in this process (same options, same
signal handling; the stage scripts exec it) and on failure prints one line instead: the first
failing rank's error, from the record each worker writes (llava/train/failures.py).

When the launcher is killed hard (SIGKILL of its process group, an out-of-memory kill, a lost ssh
session), workers used to keep training and saving into the output folder while a rerun started a
second run beside them. Each worker therefore asks Linux to send it SIGKILL when its parent dies
(prctl PR_SET_PDEATHSIG, `die_with_launcher`); its lock on the output folder goes with it, and
resume then starts from the newest complete checkpoint.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from llava.train.failures import root_failure

    args = parse_args(argv)
    try:
        run(args)
    except ChildFailedError as e:
        rank, line = root_failure(e.failures)
        sys.stdout.flush()
        print(f"llava-train failed on rank {rank}: {line}", file=sys.stderr, flush=True)
        code = e.failures[rank].exitcode
        return code if code > 0 else 1
    return 0


def die_with_launcher() -> bool:
    """Under torchrun (LOCAL_RANK set), get SIGKILL when the parent process dies. Returns whether
    the request was made (Linux only; elsewhere a no-op)."""
    if "LOCAL_RANK" not in os.environ or not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    except (OSError, AttributeError) as e:
        logger.warning("could not tie this worker to its launcher (%s); if the launcher is killed, stop the "
                       "workers by hand", e)
        return False
    if os.getppid() != parent:  # the launcher died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)
    return True


if __name__ == "__main__":
    sys.exit(main())
