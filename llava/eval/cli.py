"""``llava-eval``: the decoupled extract-then-think evaluation, stage by stage or all at once.

    llava-eval extract-think --benchmark mmstar --perception CKPT --reasoner Qwen/Qwen3-4B --thinking on
    llava-eval caption-think --benchmark mmstar --perception CKPT --reasoner Qwen/Qwen3-4B
    llava-eval end-to-end    --benchmark mmstar --perception CKPT
    llava-eval focus    --benchmark mmstar --focus-model Qwen/Qwen3-8B
    llava-eval perceive --benchmark mmstar --perception CKPT --focus-file focus.json
    llava-eval reason   --benchmark mmstar --descriptions DESCRIPTIONS.jsonl --reasoner Qwen/Qwen3-1.7B
    llava-eval score    --input REASONING.jsonl
    llava-eval lmms-eval-tasks --output-dir TASKS [--data MMSTAR.parquet] [--focus-file focus.json]

Stage 2 follows the paper's protocol unless told otherwise (--protocol improved, or single options;
docs/evaluation.md). Every stage caches its output under --results-dir and resumes when rerun.
Without --benchmark, a command runs on the embedded default (the demo's shapes world and tiny random
models, llava.eval.embedded_default) and says so in its first line.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llava.eval.benchmarks import load_benchmark
from llava.eval.embedded_default import apply_embedded_default
from llava.eval.perception import PerceptionSettings
from llava.eval.pipeline import EvalRun, perception_source_dir
from llava.eval.protocol import ANSWER_LINES, DEFAULT_PROTOCOL, DO_SAMPLE, PROTOCOLS, get_protocol
from llava.eval.reasoning import DEFAULT_BUDGET, ReasoningConfig, paper_sampling, with_overrides
from llava.eval.reflexive_tokens import BLOCKED_SETS
from llava.eval.scoring import MATCHERS
from llava.eval.thinking_budget import BOOSTS, BUDGET_ENDS
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


def add_protocol_args(p, scoring_only=False):
    g = p.add_argument_group("protocol (docs/evaluation.md; each option overrides --protocol)")
    g.add_argument("--protocol", choices=sorted(PROTOCOLS), default=DEFAULT_PROTOCOL,
                   help="paper: the authors' stage 2 bit for bit (default); improved: this project's variant")
    g.add_argument("--answer-line", choices=ANSWER_LINES,
                   help="raw: the output's last line as generated (paper); stripped: of the stripped output")
    if scoring_only:
        return
    g.add_argument("--blocked-set", choices=BLOCKED_SETS,
                   help="auto: the authors' 189 ids on Qwen3's vocabulary, else derived (paper); "
                   "derived: affixed forms of the words; exact-words: tokens spelling a word exactly (improved)")
    g.add_argument("--block-after-think", type=_on_off, default=None,
                   help="on: block reflexive tokens in the answer too (paper); off: only while thinking")
    g.add_argument("--boost", choices=BOOSTS,
                   help="near-budget boost: think-end-logit (paper: newline and </think> both get "
                   "logit(</think>)*(1+t/B)) or own-logit (each x -> x+|x|*t/B)")
    g.add_argument("--budget-ends-at", choices=BUDGET_ENDS,
                   help="forced: only the forced </think> ends the budget rules (paper); think-end: a row's "
                   "first </think>, written or forced")
    g.add_argument("--do-sample", choices=DO_SAMPLE,
                   help="model: the reasoner's generation_config decides (paper); on: always sample")


def protocol_from_args(args):
    base = get_protocol(args.protocol)
    return base.with_overrides(answer_line=args.answer_line, blocked_set=getattr(args, "blocked_set", None),
                               block_after_think=getattr(args, "block_after_think", None),
                               boost=getattr(args, "boost", None), budget_ends_at=getattr(args, "budget_ends_at", None),
                               do_sample=getattr(args, "do_sample", None))


def add_reasoning_args(p):
    g = p.add_argument_group("stage 2: reasoning")
    g.add_argument("--reasoner", help="text LLM with a chat template, e.g. Qwen/Qwen3-4B")
    g.add_argument("--thinking", type=_on_off, default=True, help="on/off (default: on)")
    g.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="thinking-token budget; 0 = none")
    g.add_argument("--no-block-reflexive", action="store_true", help="block no reflexive tokens at all")
    g.add_argument("--blocked-words", nargs="+", help="block tokens of these words instead of the reflexive "
                   "words (rule: --blocked-set; the authors' id list is then not used)")
    g.add_argument("--blocked-token-ids", type=int, nargs="+", help="block exactly these token ids")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-p", type=float)
    g.add_argument("--top-k", type=int, help="default: the model's generation_config")
    g.add_argument("--max-new-tokens", type=int, help="default: budget + 1024 (thinking) / 1024 (direct)")
    g.add_argument("--greedy", action="store_true", help="greedy decoding (tests, debugging)")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    add_protocol_args(p)
    p.add_argument("--matcher", choices=sorted(MATCHERS), default="lmms-eval-0.4",
                   help="lmms-eval-0.4: the paper's MMStar rules (default); lmms-eval-0.7: lmms-eval 0.7.x's")


def reasoning_config(args) -> ReasoningConfig:
    protocol = protocol_from_args(args)
    budget = args.budget or None
    sampling = paper_sampling(args.thinking, protocol.do_sample, budget=budget, greedy=args.greedy)
    sampling = with_overrides(sampling, temperature=args.temperature, top_p=args.top_p,
                              top_k=args.top_k, max_new_tokens=args.max_new_tokens)
    cfg = ReasoningConfig(reasoner=args.reasoner, thinking=args.thinking, budget=budget, protocol=protocol,
                          block_reflexive=not args.no_block_reflexive, sampling=sampling,
                          batch_size=args.batch_size, seed=args.seed, dtype=args.dtype,
                          device=args.device, attn_implementation=getattr(args, "attn_implementation", None))
    if args.blocked_words:
        cfg.blocked_words = tuple(args.blocked_words)
    if args.blocked_token_ids:
        cfg.blocked_token_ids = tuple(args.blocked_token_ids)
    return cfg


def make_run(args, needs_images: bool = False) -> EvalRun:
    bench = load_benchmark(args.benchmark, args.data, args.split, args.limit, args.categories)
    if needs_images:
        bench.require_images(args.data)
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
    summary, table = run.score(records, stem, args.matcher, title, answer_line=cfg.protocol.answer_line,
                               reasoner=args.reasoner, reasoning=cfg.run_label(), protocol=cfg.protocol.name,
                               descriptions=source_dir, **about)
    print(table)
    print(f"[llava-eval] outputs: {path}\n[llava-eval] scores: {stem}.scores.json, {stem}.table.md")
    return summary


def cmd_focus(args):
    run = make_run(args)
    focus, label = run_focus_stage(run, args)
    print(f"[llava-eval] focus ({label}) ready for {len(focus)} questions")


def cmd_perceive(args):
    run = make_run(args, needs_images=True)
    focus, label = run_focus_stage(run, args) if args.mode == "extract" else (None, None)
    _, path = run.perception(args.perception, args.mode, perception_settings(args), focus, label)
    print(f"[llava-eval] descriptions: {path}")


def cmd_reason(args):
    run = make_run(args)
    descriptions, label = run.descriptions_from_file(args.descriptions)
    reason_and_score(run, args, descriptions, label, f"{run.benchmark.name}: {args.reasoner}")


def cmd_decoupled(args, mode):
    run = make_run(args, needs_images=True)
    focus, label = run_focus_stage(run, args) if mode == "extract" else (None, None)
    records, _ = run.perception(args.perception, mode, perception_settings(args), focus, label)
    descriptions = {r["index"]: r["description"] for r in records}
    system = "Extract+Think" if mode == "extract" else "Caption+Think"
    reason_and_score(run, args, descriptions, perception_source_dir(args.perception, mode, label, run.prompts),
                     f"{system} on {run.benchmark.name}: {args.perception} / {args.reasoner} "
                     f"(thinking {'on' if args.thinking else 'off'})", system=system,
                     perception=args.perception)


def cmd_end_to_end(args):
    run = make_run(args, needs_images=True)
    records, path = run.perception(args.perception, "end-to-end", perception_settings(args, True))
    stem = path.with_suffix("")
    _, table = run.score(records, stem, args.matcher, f"end-to-end on {run.benchmark.name}: {args.perception}",
                         system="end-to-end", perception=args.perception)
    print(table)
    print(f"[llava-eval] scores: {stem}.scores.json")


def cmd_score(args):
    from llava.eval.artifacts import read_jsonl_lines
    from llava.eval.scoring import aggregate, score_records, write_scores

    path = Path(args.input)
    lines = read_jsonl_lines(path)
    if not lines:
        raise ValueError(f"{path} holds no records to score")
    answer_line = protocol_from_args(args).answer_line
    scored = score_records([rec for _, rec in lines], matcher=args.matcher, output_key=args.output_key,
                           answer_line=answer_line, where=[f"{path} line {n}" for n, _ in lines])
    summary = dict(aggregate(scored), matcher=args.matcher, answer_line=answer_line,
                   benchmark=args.benchmark_name or path.stem)
    stem = Path(args.output) if args.output else path.with_suffix("")
    print(write_scores(scored, summary, stem, path.stem))
    if summary["num_no_output"]:
        first = next(q.index for q in scored if q.no_output)
        print(f"[llava-eval] {summary['num_no_output']} record(s) have a null {args.output_key!r} and are "
              f"scored wrong (first: index {first})")
    print(f"[llava-eval] scores: {stem}.scores.json")


def cmd_lmms_eval_tasks(args):
    from llava.eval.lmms_plugin.tasks import write_task_folder

    run = EvalRun(load_benchmark(args.benchmark, args.data, args.split), Path(args.results_dir),
                  load_prompt_overrides(args.prompts))
    focus, label = run_focus_stage(run, args)   # from --focus-file, else the focus stage
    paths = write_task_folder(args.output_dir, args.benchmark, focus, run.prompts, args.data, args.split,
                              protocol_from_args(args).answer_line)
    print(f"[llava-eval] {len(focus)} questions, focus: {label}; tasks "
          f"{', '.join(p.stem for p in paths)} in {Path(args.output_dir)}\n"
          f"[llava-eval] run them with: python -m lmms_eval ... --include_path {Path(args.output_dir)} "
          "(docs/evaluation.md)")
    import importlib.util

    if importlib.util.find_spec("lmms_eval") is None:
        print('[llava-eval] lmms-eval is not installed: pip install -e ".[lmms-eval]" && '
              'pip install --no-deps "lmms-eval==0.7.3"')


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
    add_protocol_args(p, scoring_only=True)
    p.set_defaults(func=cmd_score)

    for name, mode, helptext in (("extract-think", "extract", "all stages: focus, extraction, reasoning, table"),
                                 ("caption-think", "caption", "generic description, reasoning, table")):
        p = sub.add_parser(name, help=helptext)
        add_benchmark_args(p)
        if mode == "extract":
            add_focus_args(p)
        add_perception_args(p), add_reasoning_args(p)
        p.set_defaults(func=lambda a, m=mode: cmd_decoupled(a, m))

    p = sub.add_parser("lmms-eval-tasks", help="write the two-stage lmms-eval task folder (--include_path)")
    p.add_argument("--output-dir", required=True, help="folder for the task YAMLs (created)")
    p.add_argument("--benchmark", choices=["mmstar", "vmcbench"], default="mmstar")
    p.add_argument("--data", help="local copy (parquet/arrow/json file or folder) or hub id "
                   "(default: Lin-Chen/MMStar / suyc21/VMCBench)")
    p.add_argument("--split", help="dataset split (MMStar: val, VMCBench: test)")
    p.add_argument("--results-dir", default="results/eval", help="where the focus stage caches its output")
    p.add_argument("--prompts", help="YAML/JSON file replacing prompt texts")
    p.add_argument("--device", help="device of the focus model")
    p.add_argument("--dtype", default="auto", choices=sorted(DTYPES))
    add_focus_args(p)
    add_protocol_args(p, scoring_only=True)
    p.set_defaults(func=cmd_lmms_eval_tasks)

    p = sub.add_parser("end-to-end", help="baseline: the perception model answers directly")
    add_benchmark_args(p), add_perception_args(p)
    p.add_argument("--matcher", choices=sorted(MATCHERS), default="lmms-eval-0.4")
    p.set_defaults(func=cmd_end_to_end)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command not in ("score", "lmms-eval-tasks"):
            apply_embedded_default(parser, args)
        args.func(args)
    except (OSError, KeyError, ValueError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"llava-eval {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
