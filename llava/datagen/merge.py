"""Merge shard records into LLaVA-format training data plus a `data_configs/`-style YAML; status.

Merging refuses to write anything unless every input index is recorded exactly once for the
describe and focus steps across all shards (`--allow-incomplete` writes what is there). Error
records are left out of the training data and listed in `errors.jsonl`.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.datagen.sharding import shard_indices
from llava.datagen.steps import STEPS
from llava.datagen.store import MANIFEST, StoreError, parse_shard_dir, read_records, shard_dir_name, write_json_atomic
from llava.prompts import PromptSet

MERGED_STEPS = ("describe", "focus")
YAML_NAME = "extraction_data.yaml"


class MergeIncomplete(RuntimeError):
    def __init__(self, report: "MergeReport"):
        super().__init__("\n".join(report.lines()))
        self.report = report


@dataclass
class Shards:
    out_dir: Path
    num_shards: int
    manifests: dict[int, dict]  # shard id -> manifest, for shards that have one
    missing: list[int]

    @property
    def num_items(self) -> int:
        return next(iter(self.manifests.values()))["num_items"]

    def dir(self, shard_id: int) -> Path:
        return self.out_dir / shard_dir_name(shard_id, self.num_shards)


def scan_shards(out_dir: str | Path) -> Shards:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise StoreError(f"output folder {out_dir} does not exist; pass the --output-dir of `llava-datagen run`")
    found = [p for p in (parse_shard_dir(d.name) for d in out_dir.iterdir() if d.is_dir()) if p]
    counts = sorted({n for _, n in found})
    if not counts:
        raise StoreError(f"{out_dir} has no shard-XXXXX-of-YYYYY folders; run `llava-datagen run` first")
    if len(counts) > 1:
        raise StoreError(f"{out_dir} mixes runs with different --num-shards {counts}; keep one layout per output folder")
    num_shards = counts[0]
    manifests = {}
    for shard_id in range(num_shards):
        path = out_dir / shard_dir_name(shard_id, num_shards) / MANIFEST
        if path.exists():
            manifests[shard_id] = json.loads(path.read_text(encoding="utf-8"))
    if not manifests:
        raise StoreError(f"no shard of {out_dir} has a {MANIFEST}; run `llava-datagen run` first")
    for field_name in ("num_items", "inputs_key", "prompts", "datasets"):
        values = {json.dumps(m.get(field_name), sort_keys=True) for m in manifests.values()}
        if len(values) > 1:
            raise StoreError(f"shards of {out_dir} disagree on {field_name}: they were run on different inputs or "
                             f"prompts; rerun the odd shards with the same settings (or --force-new)")
    missing = [s for s in range(num_shards) if s not in manifests]
    return Shards(out_dir, num_shards, manifests, missing)


@dataclass
class MergeReport:
    num_items: int
    missing: dict[str, list[int]] = field(default_factory=dict)
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    half_written: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    sanitized: int = 0
    outputs: list[str] = field(default_factory=list)
    inputs: str = ""

    @property
    def complete(self) -> bool:
        return not any(self.missing.values()) and not any(self.duplicates.values())

    def lines(self) -> list[str]:
        lines = [f"{self.num_items} input items" + (f" ({self.inputs})" if self.inputs else "")]
        for step in MERGED_STEPS:
            missing, dups = self.missing.get(step, []), self.duplicates.get(step, [])
            lines.append(f"{step}: {len(missing)} missing, {len(dups)} recorded more than once, "
                         f"{self.errors.get(step, 0)} error records")
            if missing:
                lines.append(f"  missing indices (first 20): {missing[:20]} -> rerun `llava-datagen run` for their "
                             f"shards (index % num_shards)")
            if dups:
                lines.append(f"  duplicated indices (first 20): {dups[:20]}")
        lines += [f"half-written last line in {p} (a run was killed there; rerun it)" for p in self.half_written]
        if self.written:
            lines.append("training samples: " + ", ".join(f"{k} {v}" for k, v in self.written.items()))
        if self.sanitized:
            lines.append(f"{self.sanitized} texts contained {DEFAULT_IMAGE_TOKEN}, removed so the image count stays right")
        lines += [f"wrote {p}" for p in self.outputs]
        return lines


def _collect(shards: Shards, step: str, report: MergeReport) -> dict[int, dict]:
    records: dict[int, dict] = {}
    counts: Counter = Counter()
    for shard_id in shards.manifests:
        path = shards.dir(shard_id) / f"{step}.jsonl"
        shard_records, partial = read_records(path)
        if partial:
            report.half_written.append(str(path))
        for index, record in shard_records.items():
            counts[index] += 1
            records[index] = record
    report.missing[step] = [i for i in range(shards.num_items) if i not in counts]
    report.duplicates[step] = sorted(i for i, c in counts.items() if c > 1 or not 0 <= i < shards.num_items
                                     or i % shards.num_shards not in shards.manifests)
    report.errors[step] = sum("error" in r for r in records.values())
    return records


def _write_samples(path: Path, samples: list[dict], output_format: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        if output_format == "jsonl":
            handle.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
        else:
            json.dump(samples, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
    os.replace(tmp, path)


def merge(out_dir: str | Path, final_dir: str | Path | None = None, output_format: str = "json",
          allow_incomplete: bool = False) -> MergeReport:
    """Write `{dataset}.json(l)` per dataset, `extraction_data.yaml`, `errors.jsonl`, `merge_report.json`."""
    if output_format not in ("json", "jsonl"):
        raise ValueError(f"--format must be json or jsonl, not {output_format!r}")
    shards = scan_shards(out_dir)
    manifest = next(iter(shards.manifests.values()))
    for step in MERGED_STEPS:
        keys = {m.get("steps", {}).get(step, {}).get("key") for m in shards.manifests.values()}
        if len(keys) > 1:
            raise StoreError(f"shards of {out_dir} ran the {step} step with different settings (keys {sorted(map(str, keys))}); "
                             f"rerun the odd shards with the same settings")
    report = MergeReport(shards.num_items)
    input_report = Path(out_dir) / "input_report.json"
    if input_report.exists():
        counts = json.loads(input_report.read_text(encoding="utf-8"))
        report.inputs = (f"from {sum(counts['samples'].values())} samples; skipped "
                         f"{sum(counts['skipped_no_image'].values())} without an image, "
                         f"{sum(counts['skipped_multi_image'].values())} multi-image, {counts['num_errors']} malformed: "
                         f"see {input_report}")
    records = {step: _collect(shards, step, report) for step in MERGED_STEPS}
    if not report.complete and not allow_incomplete:
        raise MergeIncomplete(report)

    prompts = PromptSet(**manifest["prompts"])
    final_dir = Path(final_dir) if final_dir else Path(out_dir) / "final"
    final_dir.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[dict]] = {d["name"]: [] for d in manifest["datasets"]}
    errors = []
    for index in range(shards.num_items):
        described, focused = records["describe"].get(index), records["focus"].get(index)
        if described is None or focused is None:
            continue
        failed = [(step, r) for step, r in (("describe", described), ("focus", focused)) if "error" in r]
        if failed:
            errors += [{"index": index, "id": r["id"], "step": step, "error": r["error"]} for step, r in failed]
            continue
        focus, description = focused["focus"], described["description"]
        if DEFAULT_IMAGE_TOKEN in focus + description:
            report.sanitized += 1
            focus, description = focus.replace(DEFAULT_IMAGE_TOKEN, ""), description.replace(DEFAULT_IMAGE_TOKEN, "")
        samples[described["dataset"]].append({
            "id": described["id"],
            "image": described["image"],
            "conversations": [
                {"from": "human", "value": f"{DEFAULT_IMAGE_TOKEN}\n{prompts.extraction_instruction(focus)}"},
                {"from": "gpt", "value": description},
            ],
        })

    entries = []
    folders = {d["name"]: d["image_folder"] for d in manifest["datasets"]}
    for name, dataset_samples in samples.items():
        report.written[name] = len(dataset_samples)
        if not dataset_samples:
            continue
        path = (final_dir / f"{name}.{output_format}").resolve()
        _write_samples(path, dataset_samples, output_format)
        report.outputs.append(str(path))
        entries.append({"json_path": str(path), "image_folder": folders[name], "sampling_strategy": "all"})
    yaml_path = final_dir / YAML_NAME
    header = (f"# Visual extraction tuning data written by `llava-datagen merge` from {Path(out_dir).resolve()}:\n"
              f"# {sum(report.written.values())} samples. Image paths are relative to each image_folder.\n")
    yaml_path.write_text(header + yaml.safe_dump({"datasets": entries}, sort_keys=False), encoding="utf-8")
    report.outputs.append(str(yaml_path.resolve()))
    with open(final_dir / "errors.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
    write_json_atomic(final_dir / "merge_report.json", {
        "num_items": report.num_items, "written": report.written, "errors": report.errors,
        "missing": report.missing, "duplicates": report.duplicates, "sanitized": report.sanitized,
        "outputs": report.outputs})
    return report


def status_lines(out_dir: str | Path) -> list[str]:
    """Per shard and step: records done / items, and error records."""
    shards = scan_shards(out_dir)
    lines = [f"{shards.num_items} items in {shards.num_shards} shards"
             + (f"; shards without output yet: {shards.missing}" if shards.missing else "")]
    header = "| shard | " + " | ".join(STEPS) + " |"
    lines += [header, "|" + "---|" * (len(STEPS) + 1)]
    totals = {step: [0, 0] for step in STEPS}
    for shard_id in range(shards.num_shards):
        size = len(shard_indices(shards.num_items, shard_id, shards.num_shards))
        cells = []
        for step in STEPS:
            records, partial = read_records(shards.dir(shard_id) / f"{step}.jsonl")
            errors = sum("error" in r for r in records.values())
            totals[step][0] += len(records)
            totals[step][1] += errors
            cells.append(f"{len(records)}/{size}" + (f" ({errors} err)" if errors else "") + (" +partial" if partial else ""))
        lines.append(f"| {shard_id} | " + " | ".join(cells) + " |")
    lines.append("| all | " + " | ".join(f"{d}/{shards.num_items}" + (f" ({e} err)" if e else "")
                                        for d, e in totals.values()) + " |")
    return lines
