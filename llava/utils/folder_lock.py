"""An exclusive lock on a folder, held by one process and released when it exits (even on SIGKILL).

The lock is `fcntl.flock` on a small file inside the folder; the file names the holder (pid, host,
command) so a refusal can say who has the folder.
"""
from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path


class FolderBusy(RuntimeError):
    """The folder is locked by another process; `holder` says which."""

    def __init__(self, folder: Path, holder: str):
        super().__init__(f"{folder} is in use by {holder}")
        self.folder, self.holder = folder, holder


class FolderLock:
    def __init__(self, folder: str | os.PathLike, name: str = ".lock"):
        self.folder = Path(folder)
        self.path = self.folder / name
        self._handle = None

    def acquire(self, wait: bool = False) -> "FolderLock":
        """Take the lock (creating the folder); `wait=False` raises `FolderBusy` when it is held."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise FolderBusy(self.folder, holder) from None
        handle.seek(0)
        handle.truncate()
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:3]))
        handle.write(f"pid {os.getpid()} on {os.uname().nodename} ({command})\n")
        handle.flush()
        self._handle = handle  # the lock lives as long as the handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "FolderLock":
        return self.acquire() if self._handle is None else self

    def __exit__(self, *exc) -> None:
        self.release()
