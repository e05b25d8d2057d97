"""What the model card says about training, read from the files a training run leaves behind.

Looks for the JSON args `llava-train` saves (`llava_train_args.json`; `training_args.json`/`args.json`
as fallbacks; never the pickled `training_args.bin`), `trainer_state.json` for steps, and the data
mixture YAML named by `data_path`. When the run started from a previous stage's output folder, that
folder is read too, so the card lists every stage in order.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

ARGS_FILES = ("llava_train_args.json", "training_args.json", "args.json")


def _args(run_dir: Path) -> dict | None:
    for name in ARGS_FILES:
        path = run_dir / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                logger.warning("model card: %s is not valid JSON (%s); training details left out", path, e)
                return None
            # `llava-train` may nest its three argument groups; flatten them.
            if all(isinstance(v, dict) for v in data.values()) and data:
                flat = {}
                for group in data.values():
                    flat.update(group)
                return flat
            return data
    return None


def _mixture(data_path: str | None, base: Path) -> list[dict]:
    if not data_path:
        return []
    path = Path(data_path)
    if not path.is_absolute() and not path.exists():
        path = base / path
    if path.suffix not in (".yaml", ".yml"):
        return [{"json_path": str(data_path), "sampling_strategy": "all"}]
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        logger.warning("model card: data mixture %s unreadable (%s); listed by name only", path, e)
        return [{"json_path": str(data_path)}]
    out = []
    for entry in (doc or {}).get("datasets") or []:
        if isinstance(entry, dict):
            out.append({k: entry[k] for k in ("json_path", "sampling_strategy", "num_samples") if k in entry})
    return out


def _stage(run_dir: Path, args: dict) -> dict:
    stage = {"name": args.get("run_name") or run_dir.name}
    if args.get("mm_tunable_parts"):
        stage["trainable"] = args["mm_tunable_parts"]
    for key in ("learning_rate", "num_train_epochs", "image_aspect_ratio", "model_max_length"):
        if args.get(key) is not None:
            stage[{"num_train_epochs": "epochs"}.get(key, key)] = args[key]
    world = int(args.get("world_size") or 0)
    per_device = args.get("per_device_train_batch_size")
    accum = args.get("gradient_accumulation_steps")
    if world and per_device and accum:
        stage["global_batch_size"] = world * int(per_device) * int(accum)
    state_file = run_dir / "trainer_state.json"
    if state_file.is_file():
        try:
            stage["global_steps"] = json.loads(state_file.read_text())["global_step"]
        except (json.JSONDecodeError, KeyError):
            pass
    stage["mixture"] = _mixture(args.get("data_path"), run_dir)
    return stage


def read_training_info(run_dir: str | Path | None, max_stages: int = 8) -> tuple[list[dict], list[str], list[str]]:
    """(stages oldest first, base model ids, dataset names) for the model card; empty when unknown."""
    stages, bases, datasets = [], [], []
    current = Path(run_dir) if run_dir else None
    seen = set()
    while current is not None and current.is_dir() and len(stages) < max_stages and current.resolve() not in seen:
        seen.add(current.resolve())
        args = _args(current)
        if args is None:
            break
        stage = _stage(current, args)
        stages.append(stage)
        datasets += [m["json_path"] for m in stage["mixture"] if "json_path" in m]
        for key in ("vision_tower", "model_name_or_path"):
            if args.get(key):
                bases.append(str(args[key]))
        parent = args.get("model_name_or_path")
        current = Path(parent) if parent and Path(parent).is_dir() else None
    stages.reverse()
    return stages, bases, datasets
