"""Why a distributed run failed, in one line, printed once and last.

Each `llava-train` process records its fatal error in the file torchrun names in
`TORCHELASTIC_ERROR_FILE` (torchrun's own format, plus a nanosecond time so that the rank that
failed first can be told from the ranks that failed because of it, e.g. "connection closed by
peer"). `llava.train.launch` reads these records when torchrun reports a failure.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import time
import traceback

ERROR_FILE_ENV = "TORCHELASTIC_ERROR_FILE"


def one_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def record_failure(error: BaseException) -> None:
    """Write `error` to this process's torchrun error file (no-op outside torchrun)."""
    path = os.environ.get(ERROR_FILE_ENV)
    if not path:
        return
    data = {"message": {"message": one_line(error),
                        "extraInfo": {"py_callstack": "".join(traceback.format_exception(error)),
                                      "timestamp": str(int(time.time())), "time_ns": time.time_ns()}}}
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
    except OSError:
        pass  # the traceback on stderr still tells


def recorded(main):
    """Decorator for an entry point: an uncaught exception is recorded, then raised as usual."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Exception as e:
            record_failure(e)
            raise

    return wrapper


def root_failure(failures: dict) -> tuple[int, str]:
    """(global rank, one line) of the failure that caused the others, from torchrun's
    `ChildFailedError.failures` ({rank: ProcessFailure})."""

    def recorded_ns(f) -> int | None:
        message = f.error_file_data.get("message")
        return message.get("extraInfo", {}).get("time_ns") if isinstance(message, dict) else None

    def killed_from_outside(f) -> bool:  # torchrun stops the surviving ranks with SIGTERM
        return f.exitcode < 0 and -f.exitcode != signal.SIGTERM

    with_record = {r: f for r, f in failures.items() if recorded_ns(f) is not None}
    killed = {r: f for r, f in failures.items() if killed_from_outside(f)}
    if killed:  # a killed rank writes nothing; the others' errors follow from its death
        rank = min(killed, key=lambda r: killed[r].timestamp)
        return rank, f"killed by {failures[rank].signal_name()} (pid {failures[rank].pid}; out of memory?)"
    if with_record:
        rank = min(with_record, key=lambda r: recorded_ns(with_record[r]))
        message = with_record[rank].error_file_data["message"]["message"]
        return rank, message
    rank = min(failures, key=lambda r: failures[r].timestamp)
    f = failures[rank]
    how = f"killed by {f.signal_name()}" if f.exitcode < 0 else f"exit code {f.exitcode}"
    return rank, f"{how} (pid {f.pid}); its error is in the log above"
