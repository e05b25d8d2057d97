"""Input side: the dataset-list YAML and LLaVA-format VQA files -> one item per image.

Every shard process reads the same files in the same order, so item indices (the unit of sharding,
resuming and merging) are identical everywhere. A fingerprint of the items is stored with the
outputs: if the inputs change under a running job, the mismatch is detected instead of mixing.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from llava.constants import DEFAULT_IMAGE_TOKEN

_STANDARD_KEYS = ("id", "image", "conversations")
_HUMAN_ROLES = ("human", "user")
_GPT_ROLES = ("gpt", "assistant")
# Error records kept in memory / printed; the counts stay exact beyond this.
MAX_KEPT_ERRORS = 10000


class DatagenInputError(ValueError):
    """A user mistake in the dataset list or an input file, with a message naming it and the fix."""


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of the dataset-list YAML."""

    name: str
    json_path: Path
    image_folder: Path
    sampling_strategy: str = "all"


@dataclass
class Item:
    """All question-answer pairs of one image of one dataset: the unit the teacher works on."""

    index: int
    dataset: str
    image: str  # relative to the dataset's image_folder, as in the input sample
    qa_pairs: list[tuple[str, str]]
    sample_ids: list[str]
    metadata: dict = field(default_factory=dict)  # extra keys of the first sample (e.g. a scene graph)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.image}"

    @property
    def questions(self) -> list[str]:
        """Distinct questions, in order (an image asked the same thing twice needs one focus)."""
        return list(dict.fromkeys(q for q, _ in self.qa_pairs))


@dataclass
class InputReport:
    """What reading the inputs found: counts per dataset and the malformed records."""

    samples: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    skipped_no_image: dict[str, int] = field(default_factory=dict)
    skipped_multi_image: dict[str, int] = field(default_factory=dict)
    duplicate_pairs: dict[str, int] = field(default_factory=dict)
    num_errors: int = 0
    errors: list[dict] = field(default_factory=list)

    def add_error(self, dataset: str, location: str, reason: str) -> None:
        self.num_errors += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append({"dataset": dataset, "location": location, "error": reason})

    def to_dict(self) -> dict:
        return {
            "samples": self.samples, "items": self.items, "skipped_no_image": self.skipped_no_image,
            "skipped_multi_image": self.skipped_multi_image, "duplicate_pairs": self.duplicate_pairs,
            "num_errors": self.num_errors, "errors": self.errors,
        }

    def summary_lines(self) -> list[str]:
        lines = []
        for name in self.samples:
            lines.append(
                f"{name}: {self.samples[name]} samples -> {self.items.get(name, 0)} images; skipped "
                f"{self.skipped_no_image.get(name, 0)} without an image, "
                f"{self.skipped_multi_image.get(name, 0)} multi-image; "
                f"{self.duplicate_pairs.get(name, 0)} repeated QA pairs dropped")
        if self.num_errors:
            lines.append(f"{self.num_errors} malformed input records skipped, e.g. "
                         + "; ".join(f"{e['location']}: {e['error']}" for e in self.errors[:3]))
        return lines


def _expand(value: str, where: str) -> str:
    expanded = os.path.expandvars(os.path.expanduser(value))
    missing = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", expanded)
    if missing:
        raise DatagenInputError(
            f"{where}: environment variable(s) {sorted(set(missing))} in {value!r} are not set; "
            f"export them (e.g. `export {missing[0]}=/path/to/data`) or write the path out")
    return expanded


def load_dataset_list(path: str | Path) -> list[DatasetSpec]:
    """Read the dataset-list YAML (`datasets: [{json_path, image_folder, name?, sampling_strategy?}]`).

    Paths may use environment variables such as `${DATA_ROOT}`; relative paths are relative to the
    YAML file's folder, so a config works from any working directory.
    """
    path = Path(path)
    if not path.is_file():
        raise DatagenInputError(f"dataset list {path} does not exist; pass the YAML that lists your VQA files")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DatagenInputError(f"dataset list {path} is not valid YAML: {exc}") from exc
    entries = data.get("datasets") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DatagenInputError(
            f"dataset list {path} needs a non-empty `datasets:` list of entries with json_path and image_folder")
    specs, names = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: datasets[{i}]"
        if not isinstance(entry, dict):
            raise DatagenInputError(f"{where} must be a mapping with json_path and image_folder")
        unknown = sorted(set(entry) - {"name", "json_path", "image_folder", "sampling_strategy"})
        if unknown:
            raise DatagenInputError(f"{where}: unknown keys {unknown} (allowed: name, json_path, image_folder, "
                                    f"sampling_strategy)")
        for key in ("json_path", "image_folder"):
            if not entry.get(key):
                raise DatagenInputError(f"{where} is missing `{key}`")
        json_path = Path(_expand(str(entry["json_path"]), where))
        image_folder = Path(_expand(str(entry["image_folder"]), where))
        json_path = json_path if json_path.is_absolute() else path.parent / json_path
        image_folder = image_folder if image_folder.is_absolute() else path.parent / image_folder
        name = str(entry.get("name") or json_path.stem)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise DatagenInputError(f"{where}: dataset name {name!r} may only use letters, digits, '_', '.' and '-' "
                                    f"(it names the output file); set `name:`")
        if name in names:
            raise DatagenInputError(f"{where}: dataset name {name!r} is used twice; give each entry a unique `name`")
        names.add(name)
        if not json_path.is_file():
            raise DatagenInputError(f"{where} ({name}): json_path {json_path} does not exist")
        if not image_folder.is_dir():
            raise DatagenInputError(f"{where} ({name}): image_folder {image_folder} is not a folder")
        strategy = str(entry.get("sampling_strategy", "all"))
        _select(list(range(1)), strategy, where)  # validate early
        specs.append(DatasetSpec(name, json_path.resolve(), image_folder.resolve(), strategy))
    return specs


def _select(samples: list, strategy: str, where: str) -> list:
    """Deterministic subsets only: `all`, `first:N`, `first:N%`, `end:N`, `end:N%`."""
    if strategy == "all":
        return samples
    match = re.fullmatch(r"(first|end):(\d+)(%?)", strategy)
    if not match:
        raise DatagenInputError(
            f"{where}: sampling_strategy {strategy!r} is not supported for generation; use all, first:N, "
            f"first:N%, end:N or end:N% (random subsets would differ between shard processes)")
    kind, number, percent = match.groups()
    count = math.ceil(len(samples) * int(number) / 100) if percent else int(number)
    return samples[:count] if kind == "first" else samples[len(samples) - min(count, len(samples)):]


def _read_records(spec: DatasetSpec, report: InputReport) -> list[tuple[str, object]]:
    """(location, parsed JSON) for every sample; undecodable JSONL lines become error records."""
    text = spec.json_path.read_text(encoding="utf-8")
    if spec.json_path.suffix != ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if "Extra data" not in exc.msg:
                raise DatagenInputError(
                    f"{spec.json_path} ({spec.name}) is not valid JSON ({exc}); fix the file, or name it .jsonl if it "
                    f"has one sample per line") from exc
            data = None  # one JSON object per line despite the .json name
        if data is not None:
            if not isinstance(data, list):
                raise DatagenInputError(f"{spec.json_path} ({spec.name}) must hold a JSON list of samples")
            return [(f"{spec.json_path}[{i}]", sample) for i, sample in enumerate(data)]
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        location = f"{spec.json_path}:{line_no}"
        try:
            records.append((location, json.loads(line)))
        except json.JSONDecodeError as exc:
            report.add_error(spec.name, location, f"not valid JSON ({exc.msg} at column {exc.colno})")
    return records


def _qa_pairs(sample: dict) -> list[tuple[str, str]]:
    """All (question, answer) pairs of a LLaVA conversation; raises ValueError when malformed."""
    turns = sample.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise ValueError("`conversations` is missing or empty")
    if len(turns) % 2:
        raise ValueError(f"`conversations` has {len(turns)} turns; expected human/gpt pairs")
    pairs = []
    for k in range(0, len(turns), 2):
        human, gpt = turns[k], turns[k + 1]
        if not (isinstance(human, dict) and isinstance(gpt, dict)):
            raise ValueError(f"turn {k} or {k + 1} is not a mapping with `from` and `value`")
        if human.get("from") not in _HUMAN_ROLES or gpt.get("from") not in _GPT_ROLES:
            raise ValueError(f"turns {k}/{k + 1} are from {human.get('from')!r}/{gpt.get('from')!r}; "
                             f"expected human then gpt")
        question, answer = human.get("value"), gpt.get("value")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise ValueError(f"turns {k}/{k + 1} need string `value`s")
        question = question.replace(DEFAULT_IMAGE_TOKEN, "").strip()
        answer = answer.strip()
        if not question or not answer:
            raise ValueError(f"turns {k}/{k + 1}: empty question or answer")
        pairs.append((question, answer))
    return pairs


def collect_items(specs: list[DatasetSpec]) -> tuple[list[Item], InputReport]:
    """Read all datasets in YAML order; merge all QA pairs of one image into one item."""
    report = InputReport()
    items: list[Item] = []
    for spec in specs:
        records = _select(_read_records(spec, report), spec.sampling_strategy, spec.name)
        by_image: dict[str, Item] = {}
        counts = {"samples": 0, "no_image": 0, "multi": 0, "dup": 0}
        for location, sample in records:
            counts["samples"] += 1
            if not isinstance(sample, dict):
                report.add_error(spec.name, location, "sample is not a JSON object")
                continue
            image = sample.get("image")
            if isinstance(image, list):
                if len(image) > 1:
                    counts["multi"] += 1
                    continue
                image = image[0] if image else None
            if not image:
                counts["no_image"] += 1
                continue
            if not isinstance(image, str):
                report.add_error(spec.name, location, f"`image` must be a path string, got {type(image).__name__}")
                continue
            try:
                pairs = _qa_pairs(sample)
            except ValueError as exc:
                report.add_error(spec.name, location, str(exc))
                continue
            item = by_image.get(image)
            if item is None:
                metadata = {k: v for k, v in sample.items() if k not in _STANDARD_KEYS}
                item = by_image[image] = Item(-1, spec.name, image, [], [], metadata)
            item.sample_ids.append(str(sample.get("id", location)))
            for pair in pairs:
                if pair in item.qa_pairs:
                    counts["dup"] += 1
                else:
                    item.qa_pairs.append(pair)
        for item in by_image.values():
            item.index = len(items)
            items.append(item)
        report.samples[spec.name] = counts["samples"]
        report.items[spec.name] = len(by_image)
        report.skipped_no_image[spec.name] = counts["no_image"]
        report.skipped_multi_image[spec.name] = counts["multi"]
        report.duplicate_pairs[spec.name] = counts["dup"]
    return items, report


def items_fingerprint(items: list[Item]) -> str:
    """Hash of everything that defines the items and their indices."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.index, item.dataset, item.image, item.qa_pairs, item.metadata],
                                 ensure_ascii=False, sort_keys=True, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()
