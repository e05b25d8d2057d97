"""Input side: the dataset-list YAML and LLaVA-format VQA files -> one item per image.

Every shard process reads the same files in the same order, so item indices (the unit of sharding,
resuming and merging) are identical everywhere. A fingerprint of the items is stored with the
outputs: if the inputs change under a running job, the mismatch is detected instead of mixing.
"""
from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.data.mixture import DatasetSpec, check_record, check_specs, read_records, read_specs, sample_id

_STANDARD_KEYS = ("id", "image", "conversations")
_HUMAN_ROLES = ("human", "user")
_GPT_ROLES = ("gpt", "assistant")
# Error records kept in memory / printed; the counts stay exact beyond this.
MAX_KEPT_ERRORS = 10000


class DatagenInputError(ValueError):
    """A user mistake in the dataset list or an input file, with a message naming it and the fix."""


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


def load_dataset_list(path: str | Path) -> list[DatasetSpec]:
    """Read the dataset-list YAML: the training mixture format (`llava.data.mixture`), so one
    reader serves both (`${VAR}` expansion, paths relative to the YAML, seeded `sampling_strategy`).

    Generation additionally needs every dataset's image folder, and names usable as file names.
    """
    if not Path(path).is_file():
        raise DatagenInputError(f"dataset list {path} does not exist; pass the YAML that lists your VQA files")
    specs, yaml_seed = read_specs(path)
    check_specs(specs)
    resolved = []
    for spec in specs:
        if spec.image_folder is None:
            raise DatagenInputError(f"{path}: dataset {spec.name!r} needs an `image_folder` (image paths in its "
                                    f"samples are relative to it)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", spec.name):
            raise DatagenInputError(f"{path}: dataset name {spec.name!r} may only use letters, digits, '_', '.' and "
                                    f"'-' (it names the output file); set `name:`")
        seed = spec.seed if spec.seed is not None else (yaml_seed if yaml_seed is not None else 0)
        resolved.append(replace(spec, json_path=spec.json_path.resolve(), image_folder=spec.image_folder.resolve(),
                                seed=int(seed)))
    return resolved


def _selected_records(spec: DatasetSpec, report: InputReport) -> list[tuple[str, dict]]:
    """(location, sample) of the sampled records, like the trainer selects them; undecodable
    lines become error records."""
    records = read_records(spec.json_path)
    selected = spec.sampling.select(len(records), spec.seed + zlib.crc32(spec.name.encode()))
    out = []
    for pos in selected.tolist():
        record = records[pos]
        where = sample_id(record, pos)  # "line N" (undecodable), an id, or "#position"
        location = f"{spec.json_path} ({where if where.startswith(('line ', '#')) else 'id ' + where})"
        problem = check_record(record, spec.image_folder, check_images=False)
        if problem is None:
            out.append((location, record))
        else:
            report.add_error(spec.name, location, f"{problem[0]}: {problem[1]}")
    return out


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
        records = _selected_records(spec, report)
        by_image: dict[str, Item] = {}
        counts = {"samples": 0, "no_image": 0, "multi": 0, "dup": 0}
        for location, sample in records:
            counts["samples"] += 1
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
