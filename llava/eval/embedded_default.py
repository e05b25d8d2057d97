"""`llava-eval` with no benchmark configured: the demo's world and tiny random models.

The held-out MMStar-layout benchmark of the shapes world, its stored focus file, the demo's tiny
perception checkpoint and reasoner (untrained: a smoke test of the wiring, announced loudly in the
first line) and small generation limits that suit them. Train real ones with `bash scripts/demo.sh`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

# What the user named that only makes sense with a real benchmark.
REAL_ONLY = ("data", "perception", "reasoner", "descriptions", "focus_file")
# Generation limits for the tiny models (a thinking trace of the world is ~26 tokens).
TINY_LIMITS = {"perception_max_new_tokens": 96, "budget": 48, "max_new_tokens": 64}


def apply_embedded_default(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill ``args`` with the embedded default when no --benchmark is given; otherwise check that the
    models each command needs were named."""
    if args.benchmark is not None:
        for key in ("perception", "reasoner", "descriptions"):
            if hasattr(args, key) and getattr(args, key) is None:
                parser.error(f"{args.command}: --{key} is required with --benchmark {args.benchmark}")
        return
    given = [f"--{k.replace('_', '-')}" for k in REAL_ONLY if getattr(args, k, None)]
    if given:
        parser.error(f"{args.command}: --benchmark is required with {', '.join(given)}")

    from llava.demo.build import REASONER_PROMPTS
    from llava.train.tiny_assets import BANNER, default_root, prepare_tiny_assets

    root = default_root()
    print("[llava-eval] " + BANNER.format(
        what="no --benchmark", root=root,
        fix="Pass --benchmark (mmstar, vmcbench, jsonl) and your --perception / --reasoner for a real evaluation."),
        flush=True)
    paths = prepare_tiny_assets(root)
    world = Path(paths["TINY_WORLD"])
    args.benchmark, args.data = "mmstar", str(world / "mmstar" / "mmstar.parquet")
    if args.results_dir == "results/eval":
        args.results_dir = str(root / "eval")
    args.device = args.device or "cpu"
    args.dtype = "fp32" if args.dtype == "auto" else args.dtype
    if hasattr(args, "focus_file"):
        args.focus_file = str(world / "focus.json")
    if hasattr(args, "perception"):
        args.perception = paths["TINY_CHECKPOINT"]
    if hasattr(args, "reasoner"):
        args.reasoner = paths["TINY_REASONER"]
        args.prompts = args.prompts or str(REASONER_PROMPTS)
        args.greedy = True
    if hasattr(args, "descriptions"):
        args.descriptions = str(world / "oracle_extractions.jsonl")
    defaults = parser.parse_args([args.command])  # what the user did not set is still at its default
    for key, value in TINY_LIMITS.items():
        if hasattr(args, key) and getattr(args, key) == getattr(defaults, key):
            setattr(args, key, value)
