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


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model under DeepSpeed's engine and PEFT's wrapper: the module whose parameter names are
    the checkpoint keys (the LLaVA model, or the plain LM of text-only training)."""
    m = getattr(model, "module", model)  # DeepSpeed engine
    try:
        from peft import PeftModel
    except ImportError:  # peft is a dependency, but nothing here must need it
        return m
    return m.base_model.model if isinstance(m, PeftModel) else m


def is_plain_language_model(model: nn.Module) -> bool:
    """A text-only causal LM (`llava-train --text_only True`): no vision tower and no
    `mm_vision_tower` in its config. All its parameters are the language model part."""
    core = unwrap_model(model)
    return not hasattr(core, "get_vision_tower") and not getattr(getattr(core, "config", None), "mm_vision_tower", None)


def part_of_parameters(model: nn.Module) -> dict[int, str]:
    """id(parameter) -> part name, for every parameter of the model."""
    if is_plain_language_model(model):
        return {id(p): LLM for p in model.parameters()}
    core = unwrap_model(model)
    inner = core.get_model()
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
