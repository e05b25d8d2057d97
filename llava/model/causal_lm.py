"""Loading a text-only causal LM + tokenizer for batched generation (one implementation for the
evaluation's focus/reasoning stages and the datagen teachers' text-only models).

Generation continues from the right edge of every row, so tokenizers pad on the left.
"""
from __future__ import annotations

from pathlib import Path

import torch

from llava.model.weights import check_weight_files
from llava.utils.dtypes import resolve_dtype


def resolve_device(device: str | None) -> str:
    if device and device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def left_padded(tokenizer):
    """The tokenizer set up for batched generation: left padding, EOS as pad token if it has none."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def pretrained_kwargs(dtype, attn_implementation: str | None = None, device_map: str | None = None) -> dict:
    """`from_pretrained` keyword arguments: the dtype, and attention / device map only when set."""
    kwargs = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map:
        kwargs["device_map"] = device_map
    return kwargs


def load_causal_lm(name_or_path: str, dtype: str | torch.dtype = "auto", device: str | None = None,
                   attn_implementation: str | None = None, *, device_map: str | None = None,
                   require_chat_template: bool = True):
    """(model, tokenizer) for generation; tokenizer pads on the left.

    dtype: a name of `llava.utils.dtypes.DTYPES` ("auto" = as stored) or a torch dtype. With
    `device_map` (e.g. "auto") the weights are placed by accelerate and `device` is ignored.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _check_model_path(name_or_path)
    torch_dtype = resolve_dtype(dtype)
    tokenizer = left_padded(AutoTokenizer.from_pretrained(name_or_path))
    if require_chat_template and not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{name_or_path}: the tokenizer has no chat template; use an instruct/chat model")
    check_weight_files(name_or_path)  # names a truncated file (transformers' error does not)
    model = AutoModelForCausalLM.from_pretrained(
        name_or_path, **pretrained_kwargs(torch_dtype, attn_implementation, device_map)).eval()
    if not device_map:
        model.to(resolve_device(device))
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config.eos_token_id is None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def _check_model_path(name_or_path: str) -> None:
    path = Path(name_or_path).expanduser()
    looks_local = name_or_path.startswith((".", "/", "~")) or path.exists()
    if looks_local and not (path / "config.json").is_file():
        raise FileNotFoundError(f"model folder {path} has no config.json (wrong path? a hub id looks "
                                "like Owner/Name)")

