"""The LLaVA-OneVision perception model: vision towers, projectors, LLMs and checkpoint IO.

Main entry points:
  llava.model.builder.load_pretrained_model  - load a LLaVA-NeXT-layout checkpoint (lmms-eval API)
  llava.model.from_parts.build_perception_model - assemble LLM + vision tower + fresh projector for training
  llava.model.loading                         - the pieces the loaders share (folders, configs, weights)
  llava.model.attention.choose_attn_implementation
The model classes are imported lazily, so `import llava` stays cheap.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "LlavaQwen3Config": "llava.model.language_models.configs",
    "LlavaQwenConfig": "llava.model.language_models.configs",
    "LlavaQwen3ForCausalLM": "llava.model.language_models.qwen3",
    "LlavaQwenForCausalLM": "llava.model.language_models.qwen2",
    "choose_attn_implementation": "llava.model.attention",
    "load_pretrained_model": "llava.model.builder",
    "build_perception_model": "llava.model.from_parts",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llava.model' has no attribute {name!r}")


__all__ = sorted(_LAZY)
