"""LLM registry: which LLaVA class serves a checkpoint, by exact `architectures` / `model_type`."""
from __future__ import annotations

import importlib

from llava.model.language_models.configs import LlavaQwen3Config, LlavaQwenConfig

# LLaVA architecture name -> (config class, module holding the model class)
LLAVA_ARCHITECTURES = {
    "LlavaQwen3ForCausalLM": (LlavaQwen3Config, "llava.model.language_models.qwen3"),
    "LlavaQwenForCausalLM": (LlavaQwenConfig, "llava.model.language_models.qwen2"),
}
# config.model_type -> LLaVA architecture. The plain LLM types cover LLaVA checkpoints saved with the
# base model_type (released files often say "qwen3") and building a LLaVA model on a plain LLM.
MODEL_TYPE_TO_ARCHITECTURE = {
    "llava_qwen_3": "LlavaQwen3ForCausalLM",
    "qwen3": "LlavaQwen3ForCausalLM",
    "llava_qwen": "LlavaQwenForCausalLM",
    "qwen2": "LlavaQwenForCausalLM",
}


def llava_classes_for(config_dict: dict, where: str = "config.json"):
    """(config class, model class) for a checkpoint's config dict; `architectures` wins over model_type."""
    chosen = next((a for a in config_dict.get("architectures") or [] if a in LLAVA_ARCHITECTURES), None)
    if chosen is None:
        chosen = MODEL_TYPE_TO_ARCHITECTURE.get(config_dict.get("model_type"))
    if chosen is None:
        raise ValueError(f"{where}: model_type {config_dict.get('model_type')!r} / architectures "
                         f"{config_dict.get('architectures')} is not a supported LLM; supported model types: "
                         f"{', '.join(sorted(MODEL_TYPE_TO_ARCHITECTURE))}")
    config_class, module = LLAVA_ARCHITECTURES[chosen]
    return config_class, getattr(importlib.import_module(module), chosen)


__all__ = ["LlavaQwen3Config", "LlavaQwenConfig", "LLAVA_ARCHITECTURES", "MODEL_TYPE_TO_ARCHITECTURE",
           "llava_classes_for"]
