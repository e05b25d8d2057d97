"""The one table of dtype names that every command and loader accepts."""
from __future__ import annotations

import torch

# "auto": as stored in the checkpoint (transformers reads the config's dtype).
DTYPES: dict[str, torch.dtype | str] = {
    "auto": "auto",
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
}
# One spelling per dtype, for choices in help texts and names written into configs.
CANONICAL = ("float32", "bfloat16", "float16")


def resolve_dtype(value: str | torch.dtype | None) -> torch.dtype | str:
    """A torch dtype (or "auto") for a name of the table; None means "auto"."""
    if value is None:
        return "auto"
    if isinstance(value, torch.dtype):
        return value
    if value not in DTYPES:
        raise ValueError(f"dtype {value!r} not understood; use one of {', '.join(sorted(DTYPES))}")
    return DTYPES[value]


def dtype_name(dtype: torch.dtype) -> str:
    """The canonical name of a floating dtype (float32 for anything else)."""
    return next((name for name in CANONICAL if DTYPES[name] == dtype), "float32")
