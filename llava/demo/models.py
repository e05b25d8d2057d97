"""The demo's tiny random start models, saved as ordinary folders the real entry points load.

- ``save_demo_llm``: a Qwen3 causal LM whose vocabulary is the demo word tokenizer (saved with it):
  the perception model's language model (width 128, ``PERCEPTION_LAYERS`` layers) and, in a
  narrower deeper shape (``REASONER_SHAPE``), the text-only reasoner.
- ``save_demo_siglip``: a SigLIP vision tower at the world's 96 px with 16 px patches (a 6x6
  grid, so each 32 px cell of the world is 2x2 patches). 32 px patches (one per cell) trained far
  slower: 3% of objects right after 500 caption steps against 99% with 16 px.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from llava.demo import world

DEMO_PATCH_SIZE = 16
# Depth of the perception model's Qwen3. With 2 layers the caption stage's shape transition depended
# on the start: seed 2 never passed it (shapes at chance after 1000 steps, although a linear probe
# read them from the image tokens at 92-98%); with 3 it passed by step 400 (docs/demo_research.md,
# 2026-12-05). The third layer costs ~1.2x per step.
PERCEPTION_LAYERS = 3
# The reasoner's lookups (copy the description's last word, find it among the options) need depth
# more than width; 64 x 3 layers trained faster than 128 x 2 in the demo research runs.
REASONER_SHAPE = {"hidden_size": 64, "num_hidden_layers": 3, "num_heads": 4, "ffn_ratio": 4, "rope_theta": 1e4}


def demo_qwen3_config(tokenizer, hidden_size: int = 128, num_hidden_layers: int = PERCEPTION_LAYERS,
                      num_heads: int = 4, ffn_ratio: int = 2, rope_theta: float = 10000.0):
    """A tiny Qwen3 config whose vocabulary and special ids come from ``tokenizer``."""
    from transformers import Qwen3Config

    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return Qwen3Config(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=ffn_ratio * hidden_size,
                       num_hidden_layers=num_hidden_layers, num_attention_heads=num_heads,
                       num_key_value_heads=num_heads, head_dim=hidden_size // num_heads,
                       max_position_embeddings=2048, tie_word_embeddings=True, rms_norm_eps=1e-6,
                       rope_theta=rope_theta, bos_token_id=pad, eos_token_id=im_end, pad_token_id=pad)


def save_demo_llm(directory: str | Path, tokenizer_dir: str | Path, seed: int = 0, **config_kwargs) -> Path:
    """A random tiny Qwen3ForCausalLM + the demo tokenizer in ``directory`` (a from_pretrained folder)."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen3ForCausalLM

    directory = Path(directory)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = demo_qwen3_config(tokenizer, **config_kwargs)
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    # Greedy by default: a random tiny model has no sampling defaults worth keeping.
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                                               pad_token_id=config.pad_token_id, do_sample=False)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_demo_siglip(directory: str | Path, seed: int = 0, hidden_size: int = 64, num_hidden_layers: int = 3) -> Path:
    """A random SigLIP tower at the world's image size. The LLaVA tower drops the last layer (as for
    so400m), so ``num_hidden_layers=3`` gives 2 layers in use.

    Its image processor normalises with the world's own pixel statistics instead of SigLIP's
    (0.5, 0.5): the images are ~95% white, and with (0.5, 0.5) the white background dominates every
    random patch embedding, so image tokens barely differ between images and the caption loss sat
    at the blind level for 900 steps (docs/demo_research.md).
    """
    import json

    from llava.tiny.models import save_tiny_siglip

    directory = Path(save_tiny_siglip(directory, seed=seed, num_hidden_layers=num_hidden_layers,
                                      image_size=world.IMAGE_SIZE, patch_size=DEMO_PATCH_SIZE,
                                      hidden_size=hidden_size))
    config_path = directory / "preprocessor_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["image_mean"], config["image_std"] = world.pixel_stats(seed)
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return directory


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Save the demo's tiny random LLM (with the demo tokenizer) "
                                             "and SigLIP tower.")
    ap.add_argument("--tokenizer", required=True, help="folder of the demo word tokenizer")
    ap.add_argument("--llm", required=True, help="output folder of the tiny Qwen3")
    ap.add_argument("--siglip", help="output folder of the tiny SigLIP tower")
    ap.add_argument("--reasoner", help="output folder of the tiny text-only reasoner (REASONER_SHAPE)")
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--layers", type=int, default=PERCEPTION_LAYERS)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    save_demo_llm(args.llm, args.tokenizer, seed=args.seed, hidden_size=args.hidden_size,
                  num_hidden_layers=args.layers)
    if args.siglip:
        save_demo_siglip(args.siglip, seed=args.seed)
    if args.reasoner:
        save_demo_llm(args.reasoner, args.tokenizer, seed=args.seed, **REASONER_SHAPE)


if __name__ == "__main__":
    main()
