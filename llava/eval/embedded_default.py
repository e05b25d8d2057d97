"""`llava-eval` with no benchmark configured: the embedded tiny default (`llava.embedded_default`).

Its MMStar-layout benchmark, stored focus file, tiny perception checkpoint and reasoner (untrained:
a smoke test of the wiring, announced loudly in the first line) and the small generation limits
that suit them. Train real tiny models with `bash scripts/demo.sh`.
"""
from __future__ import annotations

import argparse

from llava import embedded_default

# What the user named that only makes sense with a real benchmark.
REAL_ONLY = ("data", "perception", "reasoner", "descriptions", "focus_file")


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

    root = embedded_default.default_root()
    print("[llava-eval] " + embedded_default.BANNER.format(
        what="no --benchmark", root=root,
        fix="Pass --benchmark (mmstar, vmcbench, jsonl) and your --perception / --reasoner for a real evaluation."),
        flush=True)
    assets = embedded_default.prepare(root)
    args.benchmark, args.data = "mmstar", str(assets.benchmark)
    if args.results_dir == "results/eval":
        args.results_dir = str(root / "eval")
    args.device = args.device or "cpu"
    args.dtype = "fp32" if args.dtype == "auto" else args.dtype
    if hasattr(args, "focus_file"):
        args.focus_file = str(assets.focus_file)
    if hasattr(args, "perception"):
        args.perception = str(assets.checkpoint)
    if hasattr(args, "reasoner"):
        args.reasoner = str(assets.reasoner)
        args.prompts = args.prompts or str(assets.reasoner_prompts)
        args.greedy = True
    if hasattr(args, "descriptions"):
        args.descriptions = str(assets.oracle_descriptions)
    defaults = parser.parse_args([args.command])  # what the user did not set is still at its default
    for key, value in assets.eval_limits.items():
        if hasattr(args, key) and getattr(args, key) == getattr(defaults, key):
            setattr(args, key, value)
