"""Tiny randomly initialised Qwen3 reasoners for the evaluation tests."""
from __future__ import annotations

from pathlib import Path

import torch


def build_tiny_qwen3_lm(save_dir: str | Path, seed: int = 0, hidden: int = 64, layers: int = 2,
                        init_range: float = 0.2):
    """Save a tiny Qwen3ForCausalLM + the tiny Qwen3 tokenizer to ``save_dir``; return the path."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

    save_dir = Path(save_dir)
    tokenizer = build_tiny_qwen3_tokenizer(save_dir)
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4,
        max_position_embeddings=4096, tie_word_embeddings=True, initializer_range=init_range,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(save_dir)
    return save_dir


def build_tiny_perception_pair(root: str | Path, seed: int = 0, weight_std: float = 0.3):
    """A tiny LLaVA-NeXT-layout perception checkpoint and its transformers-native export.

    The language-model and projector matrices are re-drawn with a larger std so greedy outputs
    depend on the image and prompt (the default 0.02 init only ever emits newlines).
    Returns (llava_next_dir, native_dir).
    """
    from llava.export.pipeline import export
    from llava.tiny.models import build_tiny_llava_model, save_tiny_siglip
    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

    root = Path(root)
    tower = save_tiny_siglip(root / "tower", seed=seed)
    model = build_tiny_llava_model(tower, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "vision_tower" not in name and param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=gen) * weight_std)
    model.save_pretrained(root / "llava_next")
    build_tiny_qwen3_tokenizer(root / "llava_next")
    export(root / "llava_next", root / "native", formats=("hf",))
    return root / "llava_next", root / "native"
