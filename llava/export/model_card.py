"""Model card (README.md) with the YAML front matter the Hub reads.

Everything shown comes from files next to the checkpoint (training args, data mixture, eval
report); nothing is invented. Missing pieces are left out rather than filled with placeholders.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PAPER_URL = "https://arxiv.org/abs/2511.17487"


_FILE_SUFFIXES = {".json", ".jsonl", ".yaml", ".yml", ".parquet", ".arrow", ".csv", ".tsv", ".txt"}


def is_hub_id(name: str | None) -> bool:
    """True for 'org/name' strings that are not paths on this machine or data files (those would
    break the Hub metadata)."""
    return (bool(name) and bool(_HUB_ID.match(name)) and not Path(name).exists()
            and Path(name).suffix.lower() not in _FILE_SUFFIXES)


def load_eval_report(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--eval-report {path} does not exist; pass the JSON written by `llava-eval`.")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"--eval-report {path} is not valid JSON ({e}); pass the JSON written by `llava-eval`.")
    reports = report if isinstance(report, list) else [report]
    for r in reports:
        if not isinstance(r, dict) or "benchmark" not in r:
            raise ValueError(f"--eval-report {path}: each report needs a 'benchmark' field (and 'average' and/or "
                             f"'categories'); got {str(r)[:200]}")
    return {"reports": reports}


def _model_index(model_name: str, reports: list[dict]) -> list[dict]:
    """Hub `model-index` so the scores show in the model page's evaluation widget."""
    results = []
    for r in reports:
        metrics = []
        if r.get("average") is not None:
            metrics.append({"type": "accuracy", "name": "average", "value": float(r["average"])})
        for cat, val in (r.get("categories") or {}).items():
            if isinstance(val, (int, float)):
                metrics.append({"type": "accuracy", "name": str(cat), "value": float(val)})
        if metrics:
            results.append({"task": {"type": "image-text-to-text"},
                            "dataset": {"name": str(r["benchmark"]), "type": str(r["benchmark"])},
                            "metrics": metrics})
    return [{"name": model_name, "results": results}] if results else []


def build_front_matter(*, model_name: str, base_models: list[str], datasets: list[str], license: str,
                       library_name: str, eval_reports: list[dict], extra_tags: list[str] = ()) -> dict:
    meta = {
        "license": license,
        "library_name": library_name,
        "pipeline_tag": "image-text-to-text",
        "tags": ["llava", "llava-onevision", "qwen3", "siglip", "multimodal", "extract-think", *extra_tags],
    }
    bases = [b for b in dict.fromkeys(base_models) if is_hub_id(b)]
    if bases:
        meta["base_model"] = bases
    ds = [d for d in dict.fromkeys(datasets) if is_hub_id(d)]
    if ds:
        meta["datasets"] = ds
    index = _model_index(model_name, eval_reports)
    if index:
        meta["model-index"] = index
    return meta


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4g}"
    return str(v)


def _stages_section(stages: list[dict]) -> list[str]:
    if not stages:
        return []
    keys = [k for k in ("name", "trainable", "learning_rate", "epochs", "global_steps", "global_batch_size",
                        "image_aspect_ratio", "model_max_length") if any(k in s for s in stages)]
    lines = ["## Training", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for s in stages:
        lines.append("| " + " | ".join(_fmt(s.get(k, "")) for k in keys) + " |")
    lines.append("")
    for s in stages:
        mixture = s.get("mixture") or []
        if mixture:
            lines += [f"Data mixture of `{s.get('name', 'stage')}`:", "", "| data | sampling | samples |",
                      "|---|---|---|"]
            lines += [f"| `{m.get('json_path', '?')}` | {m.get('sampling_strategy', 'all')} | "
                      f"{m.get('num_samples', '')} |" for m in mixture]
            lines.append("")
    return lines


def _eval_section(reports: list[dict]) -> list[str]:
    if not reports:
        return []
    lines = ["## Evaluation", ""]
    for r in reports:
        title = f"### {r['benchmark']}"
        if r.get("reasoning_model"):
            title += f" (reasoning model: `{r['reasoning_model']}`)"
        lines += [title, ""]
        if r.get("average") is not None:
            lines.append(f"Average: **{_fmt(r['average'])}**")
            lines.append("")
        cats = {k: v for k, v in (r.get("categories") or {}).items() if isinstance(v, (int, float))}
        if cats:
            lines += ["| category | score |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in cats.items()]
            lines.append("")
    return lines


def render_model_card(*, model_name: str, base_models: list[str], datasets: list[str] = (),
                      license: str = "apache-2.0", library_name: str = "transformers", layout: str = "hf",
                      stages: list[dict] = (), eval_reports: list[dict] = (), architecture: dict | None = None,
                      repo_id: str | None = None) -> str:
    """Return README.md text: YAML front matter + description, usage, training and evaluation."""
    meta = build_front_matter(model_name=model_name, base_models=list(base_models), datasets=list(datasets),
                              license=license, library_name=library_name, eval_reports=list(eval_reports))
    body = [f"# {model_name}", "",
            "Perception model of the Extract+Think recipe from *Downscaling Intelligence: Exploring "
            f"Perception and Reasoning Bottlenecks in Small Multimodal Models* ([paper]({PAPER_URL})): a "
            "LLaVA-OneVision-style model (SigLIP vision tower, 2-layer MLP projector, Qwen3 language model, "
            "anyres image tiling) trained to extract the visual details a question needs.", ""]
    if architecture:
        body += ["## Architecture", "", "| part | value |", "|---|---|"]
        body += [f"| {k} | {_fmt(v)} |" for k, v in architecture.items()]
        body.append("")
    body += _usage(layout, repo_id or model_name)
    body += _stages_section(list(stages))
    body += _eval_section(list(eval_reports))
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n" + "\n".join(body).rstrip() + "\n"


def _usage(layout: str, repo: str) -> list[str]:
    if layout == "hf":
        return ["## Usage", "", "This folder is in the transformers-native `LlavaOnevisionForConditionalGeneration` "
                "format (also served by vLLM and SGLang).", "", "```python",
                "from transformers import AutoModelForImageTextToText, AutoProcessor",
                f'processor = AutoProcessor.from_pretrained("{repo}")',
                f'model = AutoModelForImageTextToText.from_pretrained("{repo}")',
                'messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the image."}]}]',
                "prompt = processor.apply_chat_template(messages, add_generation_prompt=True)",
                'inputs = processor(images=image, text=prompt, return_tensors="pt")',
                "print(processor.decode(model.generate(**inputs, max_new_tokens=256)[0]))",
                "```", ""]
    return ["## Usage", "", "This folder is in the LLaVA-NeXT layout (the format of the original training code and "
            "lmms-eval's `llava_onevision` model). Load it with this project:", "", "```python",
            "from llava.model import load_pretrained_model",
            f'tokenizer, model, image_processor, context_len = load_pretrained_model("{repo}")',
            "```", "", "`llava-export --to hf` converts it to the transformers-native format.", ""]
