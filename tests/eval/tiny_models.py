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
