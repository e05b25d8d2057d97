"""Register the LLaVA classes with transformers' Auto* factories (called by `import llava`).

After this, `AutoConfig.from_pretrained(folder)` works for LLaVA-NeXT checkpoints with
model_type `llava_qwen_3` / `llava_qwen`, and `AutoModelForCausalLM` maps those configs to the
LLaVA classes. Checkpoints saved with model_type `qwen3` load as plain Qwen3 configs (which
carry the mm_* keys as attributes); `load_pretrained_model` picks the LLaVA class from
`architectures` for them.
"""
from __future__ import annotations

_done = False


def register_with_transformers() -> None:
    global _done
    if _done:
        return
    from transformers import AutoConfig, AutoModelForCausalLM

    from llava.model.language_models.configs import LlavaQwen3Config, LlavaQwenConfig

    for config_class in (LlavaQwen3Config, LlavaQwenConfig):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    from llava.model.language_models.qwen2 import LlavaQwenForCausalLM
    from llava.model.language_models.qwen3 import LlavaQwen3ForCausalLM

    AutoModelForCausalLM.register(LlavaQwen3Config, LlavaQwen3ForCausalLM, exist_ok=True)
    AutoModelForCausalLM.register(LlavaQwenConfig, LlavaQwenForCausalLM, exist_ok=True)
    _done = True
