"""``llava-eval``: the decoupled extract-then-think evaluation, stage by stage or all at once.

    llava-eval extract-think --benchmark mmstar --perception CKPT --reasoner Qwen/Qwen3-4B --thinking on
    llava-eval caption-think --benchmark mmstar --perception CKPT --reasoner Qwen/Qwen3-4B
    llava-eval end-to-end    --benchmark mmstar --perception CKPT
    llava-eval focus    --benchmark mmstar --focus-model Qwen/Qwen3-8B
    llava-eval perceive --benchmark mmstar --perception CKPT --focus-file focus.json
    llava-eval reason   --benchmark mmstar --descriptions DESCRIPTIONS.jsonl --reasoner Qwen/Qwen3-1.7B
    llava-eval score    --input REASONING.jsonl

Every stage caches its output under --results-dir and resumes when rerun (see pipeline.py).
Without --benchmark, a command runs on the embedded default (the demo's shapes world and tiny random
models, llava.eval.embedded_default) and says so in its first line.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llava.eval.artifacts import read_jsonl
from llava.eval.benchmarks import load_benchmark
from llava.eval.embedded_default import apply_embedded_default
from llava.eval.perception import PerceptionSettings
from llava.eval.pipeline import EvalRun, perception_source_dir
from llava.eval.reasoning import DEFAULT_BUDGET, ReasoningConfig, paper_sampling, with_overrides
from llava.eval.scoring import MATCHERS
from llava.eval.text_generation import SamplingSettings
from llava.prompts import load_prompt_overrides
from llava.utils.dtypes import DTYPES

DEFAULT_FOCUS_MODEL = "Qwen/Qwen3-8B"


def _on_off(value: str) -> bool:
    if value.lower() in ("on", "true", "1", "yes"):
        return True
    if value.lower() in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected on/off, got {value!r}")


def add_benchmark_args(p):
    g = p.add_argument_group("benchmark")
    g.add_argument("--benchmark", choices=["mmstar", "vmcbench", "jsonl"],
                   help="omitted: the embedded default (the demo's shapes world and tiny models, announced loudly)")
    g.add_argument("--data", help="local copy (parquet/arrow/json file, saved dataset folder) or hub id; "
                   "the generic format's JSONL file for --benchmark jsonl")
    g.add_argument("--split", help="dataset split (MMStar: val, VMCBench: test)")
    g.add_argument("--limit", type=int, help="only the first N questions")
    g.add_argument("--categories", nargs="+", help="only these categories (e.g. VMCBench in-domain tasks)")
    g.add_argument("--results-dir", default="results/eval", help="where artifacts are cached (default: %(default)s)")
    g.add_argument("--prompts", help="YAML/JSON file replacing prompt texts (llava.prompts.PromptSet fields)")
    g.add_argument("--device", help="cuda, cpu, ... (default: cuda if available)")
    g.add_argument("--dtype", default="auto", choices=sorted(DTYPES))


def add_focus_args(p):
    g = p.add_argument_group("stage 0: focus")
    g.add_argument("--focus-file", help="authors' JSON {index: focus}; skips the focus model")
    g.add_argument("--focus-model", default=DEFAULT_FOCUS_MODEL, help="text LLM writing the focus (default: %(default)s)")
    g.add_argument("--focus-batch-size", type=int, default=16)


def add_perception_args(p, with_mode=False):
    g = p.add_argument_group("stage 1: perception")
    g.add_argument("--perception", help="perception checkpoint (LLaVA-NeXT layout or "
                   "transformers-native llava_onevision export)")
    if with_mode:
        g.add_argument("--mode", choices=["extract", "caption"], default="extract",
                       help="extract: question-specific focus (Extract+Think); caption: generic description")
    g.add_argument("--perception-batch-size", type=int, default=8)
    g.add_argument("--perception-max-new-tokens", type=int, default=None,
                   help="default 1024 (descriptions) / 32 (end-to-end answers)")
    g.add_argument("--attn-implementation", help="sdpa, eager, flash_attention_2")


def add_reasoning_args(p):
    g = p.add_argument_group("stage 2: reasoning")
    g.add_argument("--reasoner", help="text LLM with a chat template, e.g. Qwen/Qwen3-4B")
    g.add_argument("--thinking", type=_on_off, default=True, help="on/off (default: on)")
    g.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="thinking-token budget; 0 = none")
    g.add_argument("--no-block-reflexive", action="store_true", help="do not block reflexive words while thinking")
    g.add_argument("--blocked-words", nargs="+", help="words whose tokens are blocked (default: REFERENCE list)")
    g.add_argument("--blocked-token-ids", type=int, nargs="+", help="explicit token ids to block instead")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-p", type=float)
    g.add_argument("--top-k", type=int, help="default: the model's generation_config")
    g.add_argument("--max-new-tokens", type=int, help="default: budget + 1024 (thinking) / 1024 (direct)")
    g.add_argument("--greedy", action="store_true", help="greedy decoding (tests, debugging)")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    p.add_argument("--matcher", choices=sorted(MATCHERS), default="lmms-eval-0.4")


def reasoning_config(args) -> ReasoningConfig:
    budget = args.budget or None
    sampling = paper_sampling(args.thinking)
    if args.thinking and budget is not None:
        sampling = with_overrides(sampling, max_new_tokens=budget + 1024)
    if args.greedy:
        sampling = SamplingSettings(do_sample=False, max_new_tokens=sampling.max_new_tokens)
    sampling = with_overrides(sampling, temperature=args.temperature, top_p=args.top_p,
                              top_k=args.top_k, max_new_tokens=args.max_new_tokens)
    cfg = ReasoningConfig(reasoner=args.reasoner, thinking=args.thinking, budget=budget,
                          block_reflexive=not args.no_block_reflexive, sampling=sampling,
                          batch_size=args.batch_size, seed=args.seed, dtype=args.dtype,
                          device=args.device, attn_implementation=getattr(args, "attn_implementation", None))
    if args.blocked_words:
        cfg.blocked_words = tuple(args.blocked_words)
    if args.blocked_token_ids:
        cfg.blocked_token_ids = tuple(args.blocked_token_ids)
    return cfg


def make_run(args) -> EvalRun:
    bench = load_benchmark(args.benchmark, args.data, args.split, args.limit, args.categories)
    print(f"[llava-eval] benchmark {bench.name}: {len(bench.questions)} questions; results in "
          f"{Path(args.results_dir) / bench.name}")
    return EvalRun(bench, Path(args.results_dir), load_prompt_overrides(args.prompts))


def perception_settings(args, end_to_end=False) -> PerceptionSettings:
    max_new = args.perception_max_new_tokens or (32 if end_to_end else 1024)
    return PerceptionSettings(max_new_tokens=max_new, batch_size=args.perception_batch_size,
                              dtype=args.dtype, device=args.device,
                              attn_implementation=args.attn_implementation)


def run_focus_stage(run: EvalRun, args):
    return run.focus(focus_model=args.focus_model, focus_file=args.focus_file,
                     batch_size=args.focus_batch_size, dtype=args.dtype, device=args.device)


def reason_and_score(run: EvalRun, args, descriptions, source_dir, title, **about) -> dict:
    cfg = reasoning_config(args)
    records, path = run.reasoning(descriptions, source_dir, cfg, backend=args.backend)
    stem = path.with_suffix("")
    summary, table = run.score(records, stem, args.matcher, title, reasoner=args.reasoner,
                               reasoning=cfg.run_label(), descriptions=source_dir, **about)
    print(table)
    print(f"[llava-eval] outputs: {path}\n[llava-eval] scores: {stem}.scores.json, {stem}.table.md")
    return summary


def cmd_focus(args):
    run = make_run(args)
    focus, label = run_focus_stage(run, args)
    print(f"[llava-eval] focus ({label}) ready for {len(focus)} questions")


def cmd_perceive(args):
    run = make_run(args)
    focus, label = run_focus_stage(run, args) if args.mode == "extract" else (None, None)
    _, path = run.perception(args.perception, args.mode, perception_settings(args), focus, label)
    print(f"[llava-eval] descriptions: {path}")


def cmd_reason(args):
    run = make_run(args)
    descriptions, label = run.descriptions_from_file(args.descriptions)
    reason_and_score(run, args, descriptions, label, f"{run.benchmark.name}: {args.reasoner}")


def cmd_decoupled(args, mode):
    run = make_run(args)
    focus, label = run_focus_stage(run, args) if mode == "extract" else (None, None)
    records, _ = run.perception(args.perception, mode, perception_settings(args), focus, label)
    descriptions = {r["index"]: r["description"] for r in records}
    system = "Extract+Think" if mode == "extract" else "Caption+Think"
    reason_and_score(run, args, descriptions, perception_source_dir(args.perception, mode, label, run.prompts),
                     f"{system} on {run.benchmark.name}: {args.perception} / {args.reasoner} "
                     f"(thinking {'on' if args.thinking else 'off'})", system=system,
                     perception=args.perception)


def cmd_end_to_end(args):
    run = make_run(args)
    records, path = run.perception(args.perception, "end-to-end", perception_settings(args, True))
    stem = path.with_suffix("")
    _, table = run.score(records, stem, args.matcher, f"end-to-end on {run.benchmark.name}: {args.perception}",
                         system="end-to-end", perception=args.perception)
    print(table)
    print(f"[llava-eval] scores: {stem}.scores.json")


def cmd_score(args):
    from llava.eval.scoring import aggregate, score_records, write_scores

    path = Path(args.input)
    scored = score_records(read_jsonl(path), matcher=args.matcher, output_key=args.output_key)
    summary = dict(aggregate(scored), matcher=args.matcher, benchmark=args.benchmark_name or path.stem)
    stem = Path(args.output) if args.output else path.with_suffix("")
    print(write_scores(scored, summary, stem, path.stem))
    print(f"[llava-eval] scores: {stem}.scores.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llava-eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("focus", help="stage 0: question-specific focus")
    add_benchmark_args(p), add_focus_args(p)
    p.set_defaults(func=cmd_focus)

    p = sub.add_parser("perceive", help="stage 1: descriptions from the perception model")
    add_benchmark_args(p), add_focus_args(p), add_perception_args(p, with_mode=True)
    p.set_defaults(func=cmd_perceive)

    p = sub.add_parser("reason", help="stage 2: reasoning over descriptions, then scoring")
    add_benchmark_args(p), add_reasoning_args(p)
    p.add_argument("--descriptions",
                   help="stage-1 JSONL of this project or an lmms-eval sample log")
    p.set_defaults(func=cmd_reason)

    p = sub.add_parser("score", help="score a JSONL of outputs (index, answer, category, output)")
    p.add_argument("--input", required=True)
    p.add_argument("--output-key", default="output")
    p.add_argument("--output", help="stem for .scores.json/.table.md (default: beside the input)")
    p.add_argument("--benchmark-name", help="benchmark name recorded in the report (default: input file name)")
    p.add_argument("--matcher", choices=sorted(MATCHERS), default="lmms-eval-0.4")
    p.set_defaults(func=cmd_score)

    for name, mode, helptext in (("extract-think", "extract", "all stages: focus, extraction, reasoning, table"),
                                 ("caption-think", "caption", "generic description, reasoning, table")):
        p = sub.add_parser(name, help=helptext)
        add_benchmark_args(p)
        if mode == "extract":
            add_focus_args(p)
        add_perception_args(p), add_reasoning_args(p)
        p.set_defaults(func=lambda a, m=mode: cmd_decoupled(a, m))

    p = sub.add_parser("end-to-end", help="baseline: the perception model answers directly")
    add_benchmark_args(p), add_perception_args(p)
    p.add_argument("--matcher", choices=sorted(MATCHERS), default="lmms-eval-0.4")
    p.set_defaults(func=cmd_end_to_end)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command != "score":
            apply_embedded_default(parser, args)
        args.func(args)
    except (FileNotFoundError, KeyError, ValueError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"llava-eval {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
