"""`llava-datagen`: generate visual-extraction training data with a teacher VLM.

  llava-datagen run --datasets data_configs/datagen/coin_vqa_sources.yaml --output-dir runs/extract \\
      --model Qwen/Qwen3-VL-8B-Instruct [--num-shards 16 --shard-id 3 | a Slurm array]
  llava-datagen status --output-dir runs/extract
  llava-datagen merge --output-dir runs/extract        # -> runs/extract/final/extraction_data.yaml
"""
from __future__ import annotations

import argparse
import logging
import sys

from llava import embedded_default
from llava.datagen import steps as S
from llava.datagen.images import DEFAULT_IMAGE_SIZE
from llava.datagen.merge import MergeIncomplete, merge, status_lines
from llava.datagen.sharding import resolve_shard
from llava.datagen.sources import DatagenInputError
from llava.datagen.store import StoreError
from llava.datagen.teachers import DEFAULT_MODEL, TeacherOptions, available_backends
from llava.prompts import load_prompt_overrides

logger = logging.getLogger("llava.datagen")


def _add_teacher_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("teacher")
    g.add_argument("--backend", default=None,
                   help=f"teacher backend: {', '.join(available_backends())}, or package.module:Class (default hf)")
    g.add_argument("--model", default=None, help=f"teacher model folder or hub id (default {DEFAULT_MODEL})")
    g.add_argument("--dtype", default="auto", help="auto (bfloat16 on GPU, float32 on CPU), bfloat16, float16, float32")
    g.add_argument("--device", default=None, help="cuda, cuda:1, cpu, or auto (spread over all GPUs); default: cuda "
                                                  "if available")
    g.add_argument("--attn-implementation", default=None, help="e.g. sdpa or flash_attention_2 (hf backend)")
    g.add_argument("--thinking", action="store_true", help="enable_thinking for chat templates that have it")
    g.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy decoding")
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm backend")
    g.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm backend")
    g.add_argument("--max-model-len", type=int, default=None, help="vllm backend")
    g.add_argument("--focus-backend", default=None, help="backend of the focus step (default: --backend)")
    g.add_argument("--focus-model", default=None,
                   help="text LLM for the focus step, e.g. Qwen/Qwen3-8B (default: the teacher in text mode)")


def _options(args, model: str) -> TeacherOptions:
    return TeacherOptions(
        model=model, dtype=args.dtype, device=args.device, attn_implementation=args.attn_implementation,
        thinking=args.thinking, temperature=args.temperature, top_p=args.top_p, seed=args.seed,
        tensor_parallel_size=args.tensor_parallel_size, gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llava-datagen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="generate statements, descriptions and focus for one shard")
    run.add_argument("--datasets", help="YAML listing the VQA files (json_path, image_folder); omitted: the "
                     "embedded default (the demo's shapes world with its scene teacher, announced loudly)")
    run.add_argument("--output-dir", help="required with --datasets")
    run.add_argument("--steps", nargs="+", default=["all"], choices=[*S.STEPS, "all"])
    run.add_argument("--prompts", default=None, help="YAML/JSON replacing prompt texts (keys of llava.prompts.PromptSet)")
    run.add_argument("--batch-size", type=int, default=None, help="prompts per teacher call (default: 16 for hf, "
                                                                  "512 for vllm)")
    for step in S.STEPS:
        run.add_argument(f"--max-new-tokens-{step}", type=int, default=S.DEFAULT_MAX_NEW_TOKENS[step],
                         help=f"default {S.DEFAULT_MAX_NEW_TOKENS[step]}")
    run.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="square teacher image side (512)")
    run.add_argument("--num-shards", type=int, default=None, help="default: SLURM_ARRAY_TASK_COUNT, else 1")
    run.add_argument("--shard-id", type=int, default=None, help="default: SLURM_ARRAY_TASK_ID, else 0")
    run.add_argument("--force-new", action="store_true",
                     help="settings changed: move the old records of the changed steps aside and start them again")
    run.add_argument("--retry-errors", action="store_true", help="generate items that failed before again")
    run.add_argument("--no-progress", action="store_true")
    _add_teacher_flags(run)

    status = sub.add_parser("status", help="records done per shard and step")
    status.add_argument("--output-dir", required=True)

    mrg = sub.add_parser("merge", help="check every index is done once and write the training JSON + YAML")
    mrg.add_argument("--output-dir", required=True)
    mrg.add_argument("--final-dir", default=None, help="default: OUTPUT_DIR/final")
    mrg.add_argument("--format", default="json", choices=["json", "jsonl"])
    mrg.add_argument("--allow-incomplete", action="store_true", help="write what exists even if indices are missing")
    return parser


def _embedded_default(args) -> None:
    """No --datasets: the embedded default's world with its deterministic teacher (a smoke test)."""
    if args.datasets is None:
        if args.backend or args.model:
            raise DatagenInputError("--datasets is required with --backend/--model: the YAML listing your VQA files")
        root = embedded_default.default_root()
        logger.warning(embedded_default.BANNER.format(
            what="no --datasets", root=root,
            fix="Pass --datasets YAML, --output-dir and --model for real data generation."))
        assets = embedded_default.prepare(root)
        args.datasets = str(assets.datagen_sources)
        args.backend = assets.datagen_backend
        args.output_dir = args.output_dir or str(assets.root / "datagen_cli")
    elif args.output_dir is None:
        raise DatagenInputError("--output-dir is required with --datasets")
    args.backend = args.backend or "hf"
    args.model = args.model or DEFAULT_MODEL


def _run(args) -> int:
    from llava.datagen.runner import RunConfig, TeacherSpec, generate

    _embedded_default(args)
    shard_id, num_shards = resolve_shard(args.num_shards, args.shard_id)
    teacher = TeacherSpec(args.backend, _options(args, args.model))
    focus = None
    if args.focus_backend or args.focus_model:
        focus = TeacherSpec(args.focus_backend or args.backend, _options(args, args.focus_model or args.model))
    config = RunConfig(
        steps=S.STEPS if "all" in args.steps else tuple(args.steps), batch_size=args.batch_size,
        max_new_tokens={step: getattr(args, f"max_new_tokens_{step}") for step in S.STEPS},
        image_size=args.image_size, force_new=args.force_new, retry_errors=args.retry_errors,
        progress=not args.no_progress)
    summaries = generate(args.datasets, args.output_dir, teacher, focus, load_prompt_overrides(args.prompts), config,
                         shard_id, num_shards)
    for summary in summaries:
        logger.info(summary.line())
        for example in summary.error_examples:
            logger.info("  error: %s", example)
    logger.info("next: `llava-datagen status --output-dir %s`, then `llava-datagen merge --output-dir %s` once all "
                "shards are done", args.output_dir, args.output_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "status":
            print("\n".join(status_lines(args.output_dir)))
            return 0
        report = merge(args.output_dir, args.final_dir, args.format, args.allow_incomplete)
        print("\n".join(report.lines()))
        return 0
    except MergeIncomplete as exc:
        print("\n".join(exc.report.lines()), file=sys.stderr)
        print("merge refused: not every index is recorded exactly once (see above); --allow-incomplete writes "
              "what exists", file=sys.stderr)
        return 1
    except (DatagenInputError, StoreError, FileNotFoundError, ValueError, ImportError) as exc:
        print(f"llava-datagen: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
