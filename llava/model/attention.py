"""Pick the attention kernel once, in one place, so training and evaluation agree."""
from __future__ import annotations

import importlib.util
import logging

import torch

logger = logging.getLogger(__name__)

_KNOWN = ("flash_attention_2", "flash_attention_3", "sdpa", "eager", "flex_attention")


def flash_attn_available() -> bool:
    """True when the `flash_attn` package imports and a CUDA device is present."""
    return importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()


def choose_attn_implementation(requested: str | None = None) -> str:
    """Return the attention implementation to pass to transformers.

    `None`/"auto": flash_attention_2 when flash-attn is importable and CUDA is present, otherwise sdpa.
    An explicit "flash_attention_2" without flash-attn falls back to sdpa with a warning instead of
    failing deep inside transformers (flash-attn is an optional extra: `pip install -e .[gpu]`).
    """
    if requested in (None, "", "auto"):
        choice = "flash_attention_2" if flash_attn_available() else "sdpa"
        logger.info("attention implementation: %s (auto; flash-attn %s)", choice,
                    "found" if choice == "flash_attention_2" else "not available")
        return choice
    if requested not in _KNOWN:
        raise ValueError(f"unknown attn_implementation {requested!r}; use one of {', '.join(_KNOWN)} or 'auto'")
    if requested.startswith("flash_attention") and not flash_attn_available():
        logger.warning("attn_implementation=%s requested but flash-attn/CUDA is not available; using sdpa "
                       "(install the [gpu] extra on a CUDA machine to use it)", requested)
        return "sdpa"
    logger.info("attention implementation: %s", requested)
    return requested
