"""Training throughput of the perception model at real size: steps/s, tokens/s and MFU.

    python scripts/bench_throughput.py                 # Qwen3-1.7B + SigLIP-so400m, bf16, on a GPU
    python scripts/bench_throughput.py --tiny          # tiny model on CPU (CI smoke test)

The model is built from configs with random weights (nothing is downloaded): Qwen3-1.7B's shape
and SigLIP so400m-patch14-384 with LLaVA's last layer dropped, mlp2x_gelu projector, anyres_max_9.
Each sample is one anyres image (default 1024x768 -> base view + tiles, ~2.9K image tokens) plus
text, as in visual extraction tuning. One step = forward + backward + AdamW step on one device
(per-device batch as given; the ZeRO-3 communication of a multi-GPU run is not included).
MFU counts model FLOPs only (6 x parameters x tokens + attention), not recomputation.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

QWEN3_1_7B = dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                  rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
# Dense bf16 peak (no sparsity), by a substring of torch.cuda.get_device_name().
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "RTX 4090": 165.0}


def build_model(tiny: bool, dtype: torch.dtype, attn: str):
    from transformers import Qwen3Config

    from llava.model.language_models.configs import LlavaQwen3Config
    from llava.model.language_models.qwen3 import LlavaQwen3ForCausalLM
    from llava.model.vision_towers.siglip import SO400M_PATCH14_384, drop_last_layer

    if tiny:
        from llava.tiny.models import tiny_qwen3_config, tiny_siglip_config

        base, vision = tiny_qwen3_config(), drop_last_layer(tiny_siglip_config().to_dict())
        pinpoints = "(1x1),...,(3x3)"
    else:
        base, vision = Qwen3Config(**QWEN3_1_7B), drop_last_layer(dict(SO400M_PATCH14_384))
        pinpoints = "(1x1),...,(6x6)"
    from llava.image.anyres import parse_grid_pinpoints

    config = LlavaQwen3Config.from_dict({
        **base.to_dict(), "mm_vision_tower": "google/siglip-so400m-patch14-384", "vision_config": vision,
        "mm_hidden_size": vision["hidden_size"], "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch", "mm_patch_merge_type": "spatial_unpad",
        "image_aspect_ratio": "anyres_max_9",
        "image_grid_pinpoints": [list(p) for p in parse_grid_pinpoints(pinpoints, vision["image_size"])],
        "tokenizer_padding_side": "right", "use_cache": False})
    return LlavaQwen3ForCausalLM._from_config(config, dtype=dtype, attn_implementation=attn)


def make_batch(model, batch_size: int, text_tokens: int, image_wh: tuple[int, int], device):
    from PIL import Image

    from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
    from llava.image.processing import num_image_tokens, process_image

    tower = model.get_vision_tower()
    cfg = model.config
    image = Image.new("RGB", image_wh, (120, 90, 200))
    pixels = process_image(image, tower.image_processor, cfg.image_aspect_ratio, cfg.image_grid_pinpoints)
    n_img = num_image_tokens(image_wh, cfg.image_aspect_ratio, cfg.image_grid_pinpoints, tower.image_size,
                             tower.num_patches_per_side)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, cfg.vocab_size, (batch_size, text_tokens), generator=g)
    ids[:, 10] = IMAGE_TOKEN_INDEX
    labels = ids.clone()
    labels[:, :text_tokens // 2] = IGNORE_INDEX
    batch = {"input_ids": ids.to(device), "labels": labels.to(device),
             "attention_mask": torch.ones_like(ids).to(device),
             "images": [pixels.to(device, model.dtype)] * batch_size, "image_sizes": [image_wh] * batch_size,
             "modalities": ["image"] * batch_size}
    return batch, n_img, int(pixels.shape[0])


def model_flops_per_step(model, batch_size: int, seq_len: int, crops: int) -> float:
    """6 N T for the matmuls + causal attention for the LLM; the same for the tower's crops."""
    cfg = model.config
    tower = model.get_vision_tower()
    vision_params = sum(p.numel() for p in tower.parameters())
    projector_params = sum(p.numel() for p in model.get_model().mm_projector.parameters())
    embed = model.get_model().embed_tokens.weight.numel()
    llm_params = sum(p.numel() for p in model.parameters()) - vision_params - projector_params - embed
    # lm_head is tied (not in parameters twice) but its matmul is done: count it.
    llm_params += cfg.vocab_size * cfg.hidden_size if cfg.tie_word_embeddings else 0
    d_attn = cfg.num_attention_heads * getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
    llm = 6 * llm_params * seq_len + 6 * cfg.num_hidden_layers * seq_len ** 2 * d_attn  # causal: half of 12
    patches = tower.num_patches
    vcfg = tower.config
    vision = crops * (6 * (vision_params + projector_params) * patches
                      + 12 * vcfg.num_hidden_layers * patches ** 2 * vcfg.hidden_size)
    return float(batch_size * (llm + vision))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny model on CPU (CI)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--per_device_batch", type=int, default=1)
    p.add_argument("--text_tokens", type=int, default=512)
    p.add_argument("--image_size", default="1024x768", help="WxH of the anyres image")
    p.add_argument("--gradient_checkpointing", choices=("on", "off"), default="on")
    p.add_argument("--peak_tflops", type=float, help="device peak for MFU (default: from the GPU name)")
    p.add_argument("--output", help="also write the result JSON here")
    args = p.parse_args(argv)

    from llava.model.attention import choose_attn_implementation

    cuda = torch.cuda.is_available() and not args.tiny
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    if args.tiny:
        args.steps, args.warmup, args.text_tokens = min(args.steps, 3), min(args.warmup, 1), min(args.text_tokens, 128)
        args.image_size = "96x64"
    attn = choose_attn_implementation("auto") if cuda else "sdpa"
    w, h = (int(x) for x in args.image_size.lower().split("x"))
    torch.manual_seed(0)
    model = build_model(args.tiny, dtype, attn).to(device)
    if args.gradient_checkpointing == "on":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=cuda)
    batch, n_img, crops = make_batch(model, args.per_device_batch, args.text_tokens, (w, h), device)
    seq_len = args.text_tokens - 1 + n_img

    def step():
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    steps_per_s = args.steps / elapsed
    flops = model_flops_per_step(model, args.per_device_batch, seq_len, crops)
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    result = {
        "device": name, "model": "tiny" if args.tiny else "Qwen3-1.7B + SigLIP-so400m (random weights)",
        "dtype": str(dtype).replace("torch.", ""), "attention": attn, "gradient_checkpointing": args.gradient_checkpointing,
        "parameters": sum(p.numel() for p in model.parameters()), "per_device_batch": args.per_device_batch,
        "image_size": [w, h], "image_crops": crops, "image_tokens": n_img, "sequence_length": seq_len,
        "steps_per_s": steps_per_s, "tokens_per_s": steps_per_s * seq_len * args.per_device_batch,
        "model_tflops_per_step": flops / 1e12, "achieved_tflops": flops * steps_per_s / 1e12,
        "peak_tflops": peak, "mfu": (flops * steps_per_s / 1e12 / peak) if peak else None,
        "max_memory_gb": torch.cuda.max_memory_allocated() / 1024**3 if cuda else None,
    }
    print(json.dumps(result, indent=1))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
