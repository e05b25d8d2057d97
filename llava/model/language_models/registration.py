"""Register the LLaVA classes with transformers' Auto* factories.

`import llava` calls `register_configs()`, so `AutoConfig.from_pretrained(folder)` works for
LLaVA-NeXT checkpoints with model_type `llava_qwen_3` / `llava_qwen` (the wrapper in lmms-eval
does this before loading). Checkpoints saved with model_type `qwen3` load as plain Qwen3 configs
that carry the mm_* keys; `load_pretrained_model` picks the LLaVA class from `architectures`.
The model classes register themselves with `AutoModelForCausalLM` when their module is imported
(any use of `llava.model.builder` / `llava.model.from_parts` does that), keeping `import llava` light.
"""
from __future__ import annotations


def register_configs() -> None:
    from transformers import AutoConfig

    from llava.model.language_models.configs import LlavaQwen3Config, LlavaQwenConfig

    for config_class in (LlavaQwen3Config, LlavaQwenConfig):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)


def register_model(config_class, model_class) -> None:
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.register(config_class, model_class, exist_ok=True)
