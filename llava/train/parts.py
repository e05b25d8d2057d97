"""The three trainable parts of the perception model and their parameters.

Parts are identified by module identity (the vision tower module, the projector module plus the
learned `image_newline`, everything else = the language model), never by parameter-name
substrings, so they stay right under PEFT wrapping and whatever the attribute paths are.
"""
from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger(__name__)

VISION, PROJECTOR, LLM = "mm_vision_tower", "mm_mlp_adapter", "mm_language_model"
GROUP_NAMES = {VISION: "vision_tower", PROJECTOR: "projector", LLM: "llm"}


def _core(model: nn.Module) -> nn.Module:
    """The LLaVA model under PEFT / DeepSpeed wrappers (the object with get_vision_tower)."""
    m = model
    for _ in range(6):
        if hasattr(m, "get_vision_tower"):
            return m
        m = getattr(m, "base_model", None) or getattr(m, "model", None) or getattr(m, "module", None)
        if m is None:
            break
    raise TypeError(f"{type(model).__name__} does not look like a LLaVA perception model (no get_vision_tower)")


def is_plain_language_model(model: nn.Module) -> bool:
    """A text-only causal LM (`llava-train --text_only True`): no vision tower under any wrapper
    and no `mm_vision_tower` in its config. All its parameters are the language model part."""
    m = model
    for _ in range(6):
        if hasattr(m, "get_vision_tower"):
            return False
        if getattr(getattr(m, "config", None), "mm_vision_tower", None):
            return False
        m = getattr(m, "base_model", None) or getattr(m, "model", None) or getattr(m, "module", None)
        if m is None:
            break
    return True


def part_of_parameters(model: nn.Module) -> dict[int, str]:
    """id(parameter) -> part name, for every parameter of the model."""
    if is_plain_language_model(model):
        return {id(p): LLM for p in model.parameters()}
    core = _core(model)
    inner = core.get_model() if hasattr(core, "get_model") else core
    vision = {id(p) for p in core.get_vision_tower().parameters()}
    projector = {id(p) for p in inner.mm_projector.parameters()}
    newline = getattr(inner, "image_newline", None)
    if isinstance(newline, nn.Parameter):
        projector.add(id(newline))
    out = {}
    for p in model.parameters():
        out[id(p)] = VISION if id(p) in vision else PROJECTOR if id(p) in projector else LLM
    return out


def set_trainable_parts(model: nn.Module, parts: list[str], lora: bool = False) -> dict[str, int]:
    """requires_grad per part; with LoRA the language model trains only its adapter weights.

    Returns {part: number of trainable parameters} for the log.
    """
    which = part_of_parameters(model)
    counts = {VISION: 0, PROJECTOR: 0, LLM: 0}
    for name, p in model.named_parameters():
        part = which[id(p)]
        if part == LLM and lora:
            train = LLM in parts and "lora_" in name
        else:
            train = part in parts
        p.requires_grad_(train)
        if train:
            counts[part] += _numel(p)
    logger.info("trainable parameters: %s", {GROUP_NAMES[k]: v for k, v in counts.items()})
    return counts


def _numel(p) -> int:
    """Full size of a parameter, also when ZeRO-3 has partitioned it (then numel() is 0)."""
    return int(getattr(p, "ds_numel", 0) or p.numel())
