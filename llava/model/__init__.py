"""The LLaVA-OneVision perception model: vision towers, projectors, LLMs and checkpoint IO.

Main entry points:
  llava.model.builder.load_pretrained_model  - load a LLaVA-NeXT-layout checkpoint (lmms-eval API)
  llava.model.build.build_perception_model   - assemble LLM + vision tower + fresh projector for training
  llava.model.attention.choose_attn_implementation
"""
from llava.model.attention import choose_attn_implementation
from llava.model.language_models import (
    LlavaQwen3Config,
    LlavaQwen3ForCausalLM,
    LlavaQwenConfig,
    LlavaQwenForCausalLM,
)

__all__ = ["LlavaQwen3Config", "LlavaQwen3ForCausalLM", "LlavaQwenConfig", "LlavaQwenForCausalLM",
           "choose_attn_implementation"]
