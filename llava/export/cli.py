"""`llava-export`: checkpoint -> transformers-native and/or LLaVA-NeXT layout (+ model card), optionally to the Hub.

Examples:
    llava-export runs/s4 --output-dir exports/s4                  # both layouts from the latest checkpoint
    llava-export runs/s4/checkpoint-600 --to hf --output-dir out  # ZeRO-3 shards or safetensors
    llava-export llava-hf-folder --to llava --output-dir out      # import a transformers-native model
    llava-export runs/s4 --output-dir out --push-to-hub me/model --private --dry-run
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from llava.export import hub
from llava.export.pipeline import FORMATS, export
from llava.utils.dtypes import CANONICAL
from llava.utils.safe_unpickle import UnsafeLoaderError

logger = logging.getLogger("llava.export")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llava-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="training output folder (latest checkpoint-N is used), a checkpoint-N folder "
                                  "(DeepSpeed shards, safetensors, or LoRA), or a transformers LlavaOnevision folder")
    p.add_argument("--output-dir", "-o", required=True,
                   help="where to write; with two formats, into <dir>/hf and <dir>/llava-next")
    p.add_argument("--to", default=None,
                   help="comma-separated formats: hf (transformers LlavaOnevision + processor), llava (LLaVA-NeXT "
                        "layout). Default: hf,llava for this project's checkpoints, llava for native imports")
    p.add_argument("--dtype", choices=CANONICAL, default=None, help="cast weights (default: as stored)")
    p.add_argument("--max-shard-size", default="5GB", help="safetensors shard size (default 5GB)")
    p.add_argument("--from-zero", action="store_true",
                   help="consolidate DeepSpeed shards even when consolidated safetensors exist")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="unpickle DeepSpeed shards without restriction. By default they are loaded as weights "
                        "only (plus the few objects DeepSpeed itself writes); a file holding anything else is "
                        "refused, since unpickling it could run code. Only for checkpoints you trust")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    card = p.add_argument_group("model card")
    card.add_argument("--model-name", default=None, help="title of the model card (default: repo or folder name)")
    card.add_argument("--eval-report", default=None, help="JSON report(s) written by llava-eval to include")
    card.add_argument("--license", default="apache-2.0")
    card.add_argument("--base-model", action="append", default=[], help="hub id to list as base model (repeatable)")
    card.add_argument("--dataset", action="append", default=[], help="hub dataset id to list (repeatable)")
    hub_args = p.add_argument_group("Hugging Face Hub (token from `hf auth login` or HF_TOKEN)")
    hub_args.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="upload to this model repo")
    hub_args.add_argument("--push-format", choices=FORMATS, default=None,
                          help="which exported layout to upload (default: hf when exported, else llava)")
    hub_args.add_argument("--private", action="store_true", help="create the repo as private")
    hub_args.add_argument("--revision", default=None, help="branch to push to (created if missing)")
    hub_args.add_argument("--commit-message", default=None)
    hub_args.add_argument("--dry-run", action="store_true", help="show what would be uploaded; no network access")
    return p


def _formats(arg: str | None, source: str) -> tuple[str, ...]:
    if arg:
        return tuple(f.strip() for f in arg.split(",") if f.strip())
    cfg = Path(source) / "config.json"
    try:
        native = json.loads(cfg.read_text()).get("model_type") == "llava_onevision"
    except (OSError, ValueError):
        native = False
    return ("llava",) if native else ("hf", "llava")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    formats = _formats(args.to, args.source)
    if args.push_to_hub:
        try:  # validate before the (long) export
            hub.check_repo_id(args.push_to_hub)
        except ValueError as e:
            print(f"llava-export: {e}", file=sys.stderr)
            return 2
        if args.push_format and args.push_format not in formats:
            print(f"llava-export: --push-format {args.push_format} is not among the exported formats "
                  f"(--to {','.join(formats)})", file=sys.stderr)
            return 2
        if not args.dry_run and not hub.has_token():
            print("llava-export: no Hugging Face token: run `hf auth login` or set HF_TOKEN (or use --dry-run).",
                  file=sys.stderr)
            return 2
    try:
        written = export(args.source, args.output_dir, formats, dtype=args.dtype, eval_report=args.eval_report,
                         model_name=args.model_name, license=args.license, base_models=args.base_model,
                         datasets=args.dataset, max_shard_size=args.max_shard_size, prefer_zero=args.from_zero,
                         repo_id=args.push_to_hub, overwrite=args.overwrite,
                         trust_checkpoint=args.trust_checkpoint)
    except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, KeyError, UnsafeLoaderError) as e:
        print(f"llava-export: {e}", file=sys.stderr)
        return 1
    for fmt, folder in written.items():
        print(f"{fmt}: {folder}")
    if args.push_to_hub:
        from huggingface_hub.errors import HfHubHTTPError

        fmt = args.push_format or ("hf" if "hf" in written else "llava")
        try:
            name = args.push_to_hub.split("/")[-1]
            message = args.commit_message or f"Upload {name} ({fmt} layout) with llava-export"
            result = hub.push_folder(written[fmt], args.push_to_hub, revision=args.revision, private=args.private,
                                     commit_message=message, dry_run=args.dry_run)
        except (HfHubHTTPError, PermissionError) as e:
            print(f"llava-export: upload of {written[fmt]} to {args.push_to_hub} failed: {e}\nThe export is "
                  "complete; rerun with the same --output-dir and --overwrite, or upload the folder with "
                  "`hf upload`.", file=sys.stderr)
            return 1
        if args.dry_run:
            print("dry run, nothing uploaded:")
            print(result.describe())
        else:
            print(f"pushed {written[fmt]} to {result.commit_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
