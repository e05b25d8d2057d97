"""Hostile files for the safe-loading tests: pickles that create a marker file when unpickled."""
from __future__ import annotations

import builtins
import os
import pickle
from pathlib import Path

import torch


class ExecPayload:
    """Unpickling runs Python code that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


class ShellPayload(ExecPayload):
    """Unpickling runs a shell command that creates `marker`."""

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class DeepSpeedFunctionPayload(ExecPayload):
    """Unpickling calls a DeepSpeed function that is not on the allowlist (it writes files)."""

    def __reduce__(self):
        from deepspeed.utils.zero_to_fp32 import convert_zero_checkpoint_to_fp32_state_dict

        return convert_zero_checkpoint_to_fp32_state_dict, ("/nonexistent", self.marker)


PAYLOADS = {"exec": ExecPayload, "shell": ShellPayload, "deepspeed-function": DeepSpeedFunctionPayload}


def write_payload(path: Path, marker: Path, kind: str = "exec", fmt: str = "torch") -> Path:
    """A checkpoint-looking file at `path`: torch.save's zip format (inside a plausible dict) or a
    bare pickle (protocol 2 or 4), as an attacker may write either."""
    payload = PAYLOADS[kind](marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torch":
        torch.save({"module": payload, "buffer_names": []}, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=int(fmt.removeprefix("pickle")))
    return path
