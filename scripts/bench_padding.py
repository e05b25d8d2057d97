"""Fraction of real (non-pad) tokens per batch: plain padding vs LLaVA-NeXT-style grouping vs ours.

    python scripts/bench_padding.py                         # synthetic paper-like mixture (default)
    python scripts/bench_padding.py --data_config data_configs/stage4_extract.yaml --model CKPT
    python scripts/bench_padding.py --tiny                  # the embedded tiny data (CI)

All three strategies batch the same samples with the same per-device batch and world size; the
padded length of a batch is its longest sample (real tokens = text + image tokens, as the model
sees them). LLaVA-NeXT groups by a word-count estimate that ignores image tokens and sorts only
within one global batch; ours groups by real token counts over `megabatch_mult` global batches.
Packing (flash-attn varlen) has no padding at all, by construction.
"""
from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np

from llava.data.sampler import SeededRandomSampler, grouped_indices


# ---- LLaVA-NeXT's modality-grouped sampler, re-implemented for comparison ----------------------

def _split_to_even_chunks(indices, lengths, num_chunks):
    if len(indices) % num_chunks != 0:
        return [indices[i::num_chunks] for i in range(num_chunks)]
    per = len(indices) // num_chunks
    chunks, totals = [[] for _ in range(num_chunks)], [0] * num_chunks
    for i in indices:
        k = totals.index(min(totals))
        chunks[k].append(i)
        totals[k] += lengths[i]
        if len(chunks[k]) == per:
            totals[k] = float("inf")
    return chunks


def _length_grouped(lengths, batch_size, world_size, rng):
    idx = rng.permutation(len(lengths)).tolist()
    mega = world_size * batch_size
    megabatches = [sorted(idx[i:i + mega], key=lambda j: -lengths[j]) for i in range(0, len(idx), mega)]
    return [i for m in megabatches for chunk in _split_to_even_chunks(m, lengths, world_size) for i in chunk]


def llava_next_indices(signed_lengths, batch_size, world_size, seed):
    """LLaVA-NeXT's get_modality_length_grouped_indices (positive = image sample, negative = text)."""
    rng = np.random.default_rng(seed)
    signed = list(signed_lengths)
    mm = [(i, l) for i, l in enumerate(signed) if l > 0]
    lang = [(i, -l) for i, l in enumerate(signed) if l < 0]
    if not mm or not lang:
        return _length_grouped([abs(l) for l in signed], batch_size, world_size, rng)
    mm_shuffle = [mm[i][0] for i in _length_grouped([l for _, l in mm], batch_size, world_size, rng)]
    lang_shuffle = [lang[i][0] for i in _length_grouped([l for _, l in lang], batch_size, world_size, rng)]
    mega = world_size * batch_size
    mm_mb = [mm_shuffle[i:i + mega] for i in range(0, len(mm_shuffle), mega)]
    lang_mb = [lang_shuffle[i:i + mega] for i in range(0, len(lang_shuffle), mega)]
    last = mm_mb[-1] + lang_mb[-1]
    megabatches = mm_mb[:-1] + lang_mb[:-1]
    order = rng.permutation(len(megabatches))
    megabatches = [megabatches[i] for i in order]
    if last:
        megabatches.append(sorted(last))
    return [i for m in megabatches for i in m]


# ---- measurement -----------------------------------------------------------------------------

def padding_stats(order, real, batch_size, world_size) -> dict:
    """Real-token fraction over all per-rank batches, and rank imbalance per global step."""
    real = np.asarray(real)
    g = batch_size * world_size
    n = len(order) - len(order) % g
    used = padded = 0
    imbalance = []
    for s in range(0, n, g):
        per_rank = []
        for r in range(world_size):
            b = real[order[s + r * batch_size: s + (r + 1) * batch_size]]
            used += int(b.sum())
            per_rank.append(int(b.max()) * len(b))
        padded += sum(per_rank)
        imbalance.append(max(per_rank) / (sum(per_rank) / world_size))
    return {"real_token_fraction": used / padded, "mean_rank_imbalance": float(np.mean(imbalance)),
            "global_steps": n // g}


def compare(real, has_image, word_estimate, batch_size, world_size, seed=0) -> dict:
    signed = [w if img else -w for w, img in zip(word_estimate, has_image)]
    orders = {
        "plain_padding (random order)": list(SeededRandomSampler(len(real), seed)),
        "llava_next_grouping (word counts)": llava_next_indices(signed, batch_size, world_size, seed),
        "ours (real token counts)": grouped_indices(real, has_image, batch_size, world_size, seed),
    }
    out = {name: padding_stats(o, real, batch_size, world_size) for name, o in orders.items()}
    out["ours + packing (flash-attn varlen)"] = {"real_token_fraction": 1.0, "mean_rank_imbalance": None}
    return out


# ---- mixtures --------------------------------------------------------------------------------

def synthetic_mixture(n: int, seed: int = 0):
    """Paper-like extraction data: anyres_max_9 SigLIP-384 images of assorted sizes, answers of
    100-600 words, ~10% text-only samples. Returns (real tokens, has_image, word counts)."""
    from llava.image.processing import num_image_tokens

    rng = np.random.default_rng(seed)
    sizes = [(640, 480), (480, 640), (500, 375), (1024, 768), (1700, 2200), (2200, 1700), (336, 336),
             (800, 200), (300, 1200), (1280, 720), (224, 224), (4000, 3000)]
    pinpoints = "(1x1),...,(6x6)"
    cache = {s: num_image_tokens(s, "anyres_max_9", pinpoints, 384, 27) for s in sizes}
    has_image = rng.random(n) > 0.1
    words = rng.integers(20, 60, n) + np.where(has_image, rng.integers(100, 600, n), rng.integers(10, 300, n))
    text_tokens = np.round(words * 1.3).astype(int) + 20
    image_tokens = np.array([cache[sizes[k]] for k in rng.integers(0, len(sizes), n)])
    real = text_tokens + np.where(has_image, image_tokens, 0)
    return real, has_image, words


def mixture_from_config(data_config: str, model: str):
    """Real token counts of a mixture with a checkpoint's tokenizer and image settings."""
    from transformers import AutoTokenizer

    from llava.data.lengths import ImageTokenSpec, mixture_lengths
    from llava.data.mixture import load_mixture
    from llava.tiny.models import read_config

    cfg = read_config(model)
    vision = cfg["vision_config"]
    spec = ImageTokenSpec(cfg["image_aspect_ratio"], cfg["image_grid_pinpoints"], vision["image_size"],
                          vision["image_size"] // vision["patch_size"], cfg.get("mm_patch_merge_type", "spatial_unpad"))
    tok = AutoTokenizer.from_pretrained(model)
    mixture = load_mixture(data_config)
    real, has_image = mixture_lengths(mixture, tok, "qwen_1_5", spec, tempfile.mkdtemp())
    words = [sum(len(t["value"].split()) for t in mixture.get(i)[0]["conversations"]) for i in range(len(mixture))]
    return real, has_image, np.asarray(words)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data_config")
    p.add_argument("--model", help="checkpoint folder (tokenizer + image settings) for --data_config")
    p.add_argument("--tiny", action="store_true", help="embedded tiny data and model (CI)")
    p.add_argument("--num_samples", type=int, default=20000, help="synthetic mixture size")
    p.add_argument("--per_device_batch", type=int, default=4)
    p.add_argument("--world_size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON only")
    args = p.parse_args(argv)
    if args.tiny:
        from llava import embedded_default

        assets = embedded_default.prepare(tempfile.mkdtemp() + "/tiny")
        real, has_image, words = mixture_from_config(str(assets.data_extract), str(assets.checkpoint))
        source = "tiny embedded extraction data"
    elif args.data_config:
        if not args.model:
            p.error("--data_config needs --model (a checkpoint folder for tokenizer and image settings)")
        real, has_image, words = mixture_from_config(args.data_config, args.model)
        source = args.data_config
    else:
        real, has_image, words = synthetic_mixture(args.num_samples, args.seed)
        source = f"synthetic paper-like mixture ({args.num_samples} samples, anyres_max_9, SigLIP-384)"
    result = compare(real, has_image, words, args.per_device_batch, args.world_size, args.seed)
    report = {"mixture": source, "num_samples": int(len(real)), "per_device_batch": args.per_device_batch,
              "world_size": args.world_size, "results": result}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"mixture: {source}; per-device batch {args.per_device_batch}, {args.world_size} ranks")
        print(f"{'strategy':40s} {'real-token fraction':>20s} {'rank imbalance':>15s}")
        for name, r in result.items():
            imb = "-" if r["mean_rank_imbalance"] is None else f"{r['mean_rank_imbalance']:.3f}"
            print(f"{name:40s} {r['real_token_fraction']:>20.3f} {imb:>15s}")
    return report


if __name__ == "__main__":
    main()
