"""Config classes of the LLaVA LLM variants (light to import: `import llava` registers them)."""
from __future__ import annotations

from transformers import Qwen2Config, Qwen3Config


class LlavaQwen3Config(Qwen3Config):
    """Qwen3 config plus the `mm_*` keys of LLaVA-NeXT checkpoints (stored as plain attributes)."""

    model_type = "llava_qwen_3"


class LlavaQwenConfig(Qwen2Config):
    """Qwen2 config plus the `mm_*` keys (original LLaVA-OneVision checkpoints)."""

    model_type = "llava_qwen"
