"""Workers die with their launcher.

torchrun's workers are its children; when the launcher is killed hard (SIGKILL of its process
group, an OOM kill, a lost ssh session), the workers used to keep training and saving into the
output folder, while a rerun started a second run beside them. Linux can send a child a signal when
its parent dies (prctl PR_SET_PDEATHSIG); a worker asks for SIGKILL, so nothing of the old run
writes on. Its lock on the output folder is released with it; resume then starts from the newest
complete checkpoint.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


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
