"""Data mixtures: a YAML list of LLaVA-format datasets, each with its own image folder.

```yaml
seed: 42                      # optional; seeds `random:` sampling (else the training seed)
datasets:
  - name: textvqa_extract     # optional; defaults to the file name
    json_path: ${DATA_ROOT}/extract/textvqa.json     # .json list, .jsonl, .parquet or .arrow
    image_folder: ${DATA_ROOT}/images/coin
    sampling_strategy: "first:10%"  # all | first:N[%] | end:N[%] | random:N[%]
```

`${VAR}` and `${VAR:-default}` are expanded from the environment (an unset variable without a
default is an error naming it); relative paths are relative to the YAML file. `random:` sampling
is seeded, so every rank and every run select the same samples.

Cheap checks run here, once (JSON shape, conversation shape, image files exist); bad samples are
dropped and recorded in a `BadSampleLog` with dataset name, id and reason. Expensive checks
(image decoding, tokenisation) happen lazily in the dataset.
"""
from __future__ import annotations

import json
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.data.bad_samples import BadSample, BadSampleLog

logger = logging.getLogger(__name__)

_ENV = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")
_STRATEGY = re.compile(r"^(all|first|end|random)(?::(\d+(?:\.\d+)?)(%?))?$")
JSON_SUFFIXES = (".json", ".jsonl")
ARROW_SUFFIXES = (".parquet", ".arrow")


class MixtureError(ValueError):
    """A user error in a data mixture (bad YAML, missing file or folder, bad strategy)."""


def expand_env(value: str, where: str = "") -> str:
    """Expand `${VAR}`, `${VAR:-default}` and `$VAR`; an unset variable is an error naming it."""

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(3)
        if name in os.environ:
            return os.environ[name]
        if m.group(2) is not None:
            return m.group(2)
        raise MixtureError(f"{where}: environment variable ${{{name}}} is not set "
                           f"(export {name}=... or write the path out in the YAML)")

    return _ENV.sub(repl, value)


@dataclass(frozen=True)
class SamplingStrategy:
    kind: str  # all | first | end | random
    amount: float | None = None
    percent: bool = False

    @classmethod
    def parse(cls, text: str | None, where: str = "") -> "SamplingStrategy":
        text = "all" if text is None else str(text).strip()
        m = _STRATEGY.match(text)
        if not m or (m.group(1) != "all" and m.group(2) is None):
            raise MixtureError(f"{where}: sampling_strategy {text!r} is not one of all | first:N | first:N% | "
                               "end:N | end:N% | random:N | random:N%")
        kind, amount, pct = m.group(1), m.group(2), m.group(3) == "%"
        if kind == "all":
            return cls("all")
        amount_f = float(amount)
        if pct and not 0 <= amount_f <= 100:
            raise MixtureError(f"{where}: sampling_strategy {text!r}: percentage must be within 0..100")
        if not pct and amount_f != int(amount_f):
            raise MixtureError(f"{where}: sampling_strategy {text!r}: a count must be an integer")
        return cls(kind, amount_f, pct)

    def count(self, n: int) -> int:
        if self.kind == "all":
            return n
        k = int(n * self.amount / 100) if self.percent else int(self.amount)
        return min(k, n)

    def select(self, n: int, seed: int) -> np.ndarray:
        """Indices (sorted) of the selected samples out of n; deterministic for a given seed."""
        k = self.count(n)
        if self.kind in ("all", "first"):
            return np.arange(k, dtype=np.int64)
        if self.kind == "end":
            return np.arange(n - k, n, dtype=np.int64)
        rng = np.random.default_rng(seed)
        return np.sort(rng.permutation(n)[:k]).astype(np.int64)

    def __str__(self) -> str:
        if self.kind == "all":
            return "all"
        amount = f"{self.amount:g}"
        return f"{self.kind}:{amount}{'%' if self.percent else ''}"


@dataclass
class DatasetSpec:
    name: str
    json_path: Path
    image_folder: Path | None
    sampling: SamplingStrategy
    seed: int | None = None


@dataclass
class DatasetEntry:
    """One resolved dataset: where it came from and how many samples survived each step."""

    spec: DatasetSpec
    records: Sequence[Any]  # list of dicts (JSON/JSONL) or a memory-mapped `datasets.Dataset`
    indices: np.ndarray  # positions in `records` that are used, after sampling and checks
    num_raw: int = 0
    num_sampled: int = 0
    num_bad: int = 0

    def summary(self) -> dict:
        return {"name": self.spec.name, "json_path": str(self.spec.json_path),
                "image_folder": str(self.spec.image_folder) if self.spec.image_folder else None,
                "sampling_strategy": str(self.spec.sampling), "num_raw": self.num_raw,
                "num_sampled": self.num_sampled, "num_bad_at_load": self.num_bad, "num_used": len(self.indices)}


@dataclass
class Mixture:
    """The concatenation of all datasets' used samples; `get(i)` returns (record, dataset entry)."""

    entries: list[DatasetEntry]
    bad: BadSampleLog = field(default_factory=BadSampleLog)

    def __post_init__(self) -> None:
        sizes = [len(e.indices) for e in self.entries]
        self._offsets = np.cumsum([0] + sizes)

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, i: int) -> tuple[DatasetEntry, int]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        d = int(np.searchsorted(self._offsets, i, side="right") - 1)
        entry = self.entries[d]
        return entry, int(entry.indices[i - self._offsets[d]])

    def get(self, i: int) -> tuple[dict, DatasetEntry]:
        entry, pos = self.locate(i)
        return dict(entry.records[pos]), entry

    def summary(self) -> dict:
        return {"num_samples": len(self), "datasets": [e.summary() for e in self.entries],
                "skipped_at_load": self.bad.summary()}


# ---------------------------------------------------------------------------------------------
# reading


def read_specs(data_path: str | os.PathLike, image_folder: str | None = None) -> tuple[list[DatasetSpec], int | None]:
    """Dataset specs (and the YAML's seed) from a YAML mixture or a single data file."""
    path = Path(expand_env(str(data_path), "--data_path"))
    if not path.exists():
        raise MixtureError(f"--data_path: data file {path} does not exist (a YAML mixture or a "
                           ".json/.jsonl/.parquet/.arrow file is expected)")
    if path.suffix not in (".yaml", ".yml"):
        folder = Path(expand_env(image_folder, "--image_folder")) if image_folder else None
        return [DatasetSpec(path.stem, path, folder, SamplingStrategy("all"))], None
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise MixtureError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(cfg, dict) or not isinstance(cfg.get("datasets"), list) or not cfg["datasets"]:
        raise MixtureError(f"{path}: expected a mapping with a non-empty `datasets:` list "
                           "(each item: json_path, image_folder, sampling_strategy)")
    base = path.parent
    seed = cfg.get("seed")
    specs, names = [], set()
    for k, item in enumerate(cfg["datasets"]):
        where = f"{path}: datasets[{k}]"
        if not isinstance(item, dict) or "json_path" not in item:
            raise MixtureError(f"{where}: each dataset needs a `json_path`")
        unknown = set(item) - {"name", "json_path", "image_folder", "sampling_strategy", "seed"}
        if unknown:
            raise MixtureError(f"{where}: unknown key(s) {sorted(unknown)}")
        jp = _resolve(base, expand_env(str(item["json_path"]), where))
        folder = item.get("image_folder", image_folder)
        folder = _resolve(base, expand_env(str(folder), where)) if folder else None
        name = str(item.get("name") or jp.stem)
        if name in names:
            name = f"{name}_{k}"
        names.add(name)
        specs.append(DatasetSpec(name, jp, folder, SamplingStrategy.parse(item.get("sampling_strategy"), where),
                                 item.get("seed")))
    return specs, seed


def _resolve(base: Path, p: str) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else (base / q)


def check_specs(specs: Sequence[DatasetSpec]) -> None:
    """Fail fast, naming every missing data file and image folder at once."""
    problems = []
    for s in specs:
        if not s.json_path.is_file():
            problems.append(f"dataset {s.name!r}: data file {s.json_path} does not exist")
        elif s.json_path.suffix not in JSON_SUFFIXES + ARROW_SUFFIXES:
            problems.append(f"dataset {s.name!r}: {s.json_path} has an unsupported suffix "
                            f"(use one of {JSON_SUFFIXES + ARROW_SUFFIXES})")
        if s.image_folder is not None and not s.image_folder.is_dir():
            problems.append(f"dataset {s.name!r}: image folder {s.image_folder} does not exist "
                            "(set `image_folder:` in the YAML or --image_folder)")
    if problems:
        raise MixtureError("data mixture problems:\n  " + "\n  ".join(problems))


class _Malformed(dict):
    """Placeholder for a JSONL line that did not parse (kept so positions and counts stay right)."""


def read_records(path: Path) -> Sequence[Any]:
    if path.suffix == ".jsonl":
        out: list = []
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if not isinstance(rec, dict):
                        raise ValueError(f"a JSON object is expected, got {type(rec).__name__}")
                    out.append(rec)
                except ValueError as e:
                    out.append(_Malformed(line=lineno, error=str(e)[:200]))
        return out
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise MixtureError(f"{path}: not valid JSON ({e}); a JSON list of samples is expected "
                               "(use .jsonl for one sample per line)") from e
        if not isinstance(data, list):
            raise MixtureError(f"{path}: a JSON list of samples is expected, got {type(data).__name__}")
        return data
    import datasets  # memory-mapped Arrow: large mixtures without holding every record in RAM

    kind = "parquet" if path.suffix == ".parquet" else "arrow"
    return datasets.load_dataset(kind, data_files=str(path), split="train")


def sample_id(record: Any, pos: int) -> str:
    if isinstance(record, _Malformed):
        return f"line {record['line']}"
    rid = record.get("id") if isinstance(record, dict) else None
    return str(rid) if rid is not None else f"#{pos}"


def image_list(record: dict) -> list[str]:
    img = record.get("image")
    if img is None:
        return []
    return [img] if isinstance(img, str) else list(img)


def check_record(record: Any, image_folder: Path | None, check_images: bool = True) -> tuple[str, str] | None:
    """(reason, detail) when the record is unusable, else None. Cheap checks only."""
    if isinstance(record, _Malformed):
        return "malformed_json", f"line {record['line']}: {record['error']}"
    if not isinstance(record, dict):
        return "malformed_json", f"a JSON object is expected, got {type(record).__name__}"
    if record.get("video") is not None:
        return "unsupported_video", "video samples are not supported by this trainer"
    conv = record.get("conversations")
    if not isinstance(conv, list) or not conv:
        return "empty_conversation", "no `conversations` list"
    for t, turn in enumerate(conv):
        if not isinstance(turn, dict) or turn.get("from") not in ("human", "gpt", "system") \
                or not isinstance(turn.get("value"), str):
            return "malformed_conversation", f"turn {t} needs `from` (human/gpt/system) and a string `value`"
    if not any(t["from"] == "gpt" and t["value"].strip() for t in conv):
        return "empty_conversation", "no non-empty `gpt` answer"
    images = image_list(record)
    n_tokens = sum(t["value"].count(DEFAULT_IMAGE_TOKEN) for t in conv)
    if images and n_tokens not in (0, len(images)):
        return "image_token_mismatch", f"{len(images)} image(s) but {n_tokens} {DEFAULT_IMAGE_TOKEN} placeholder(s)"
    if not images and n_tokens:
        return "image_token_mismatch", f"{n_tokens} {DEFAULT_IMAGE_TOKEN} placeholder(s) but no `image`"
    if images:
        if image_folder is None:
            return "missing_image", "the sample has an image but its dataset has no image_folder"
        if check_images:
            for rel in images:
                if not (image_folder / rel).is_file():
                    return "missing_image", f"{image_folder / rel} does not exist"
    return None


def load_mixture(data_path: str | os.PathLike, image_folder: str | None = None, seed: int = 0,
                 check_images: bool = True, max_bad_fraction: float = 0.5,
                 record_check=None) -> Mixture:
    """Read, sample and check every dataset of a mixture.

    `seed` is used for `random:` unless the YAML (top level or per dataset) sets one; each dataset
    mixes its name into the seed, so datasets do not share the same permutation.
    A dataset where more than `max_bad_fraction` of the sampled samples are bad is an error (it
    usually means a wrong image_folder), reported with examples.
    `record_check(record) -> (reason, detail) | None` runs first on every parsed record (e.g.
    text-only training refuses samples with images, see llava/data/text_only.py).
    """
    specs, yaml_seed = read_specs(data_path, image_folder)
    check_specs(specs)
    bad = BadSampleLog()
    entries = []
    for spec in specs:
        records = read_records(spec.json_path)
        n = len(records)
        base_seed = spec.seed if spec.seed is not None else (yaml_seed if yaml_seed is not None else seed)
        selected = spec.sampling.select(n, int(base_seed) + zlib.crc32(spec.name.encode()))
        keep, dataset_bad = [], []
        for pos in _progress(selected, f"checking {spec.name}"):
            pos = int(pos)
            rec = records[pos]
            problem = None
            if record_check is not None and isinstance(rec, dict) and not isinstance(rec, _Malformed):
                problem = record_check(rec)
            problem = problem or check_record(rec, spec.image_folder, check_images)
            if problem is None:
                keep.append(pos)
            else:
                dataset_bad.append(BadSample(spec.name, sample_id(rec, pos), problem[0], problem[1], "load"))
        for b in dataset_bad:
            bad.add(b)
        if selected.size and len(dataset_bad) > max_bad_fraction * selected.size:
            examples = "\n  ".join(b.describe() for b in dataset_bad[:5])
            raise MixtureError(f"dataset {spec.name!r}: {len(dataset_bad)} of {selected.size} samples are unusable "
                               f"(more than {max_bad_fraction:.0%}; wrong image_folder?), e.g.:\n  {examples}")
        entries.append(DatasetEntry(spec, records, np.asarray(keep, dtype=np.int64), n, int(selected.size),
                                    len(dataset_bad)))
        logger.info("Data: %s: %d raw, %d sampled (%s), %d bad, %d used", spec.name, n, selected.size,
                    spec.sampling, len(dataset_bad), len(keep))
    mixture = Mixture(entries, bad)
    if len(mixture) == 0:
        raise MixtureError(f"{data_path}: the mixture has no usable samples")
    return mixture


def _progress(it, desc: str):
    if len(it) < 20000:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, unit="sample", mininterval=5)
