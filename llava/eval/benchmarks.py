"""Multiple-choice benchmarks: MMStar, VMCBench (in-domain) and a generic JSONL format.

Every benchmark becomes a list of :class:`MCQuestion` in dataset order (``position`` is the row
number, which is lmms-eval's ``doc_id``). Images are decoded only when a stage needs them.

Generic format (``--benchmark jsonl --data my.jsonl``), one JSON object per line::

    {"index": "q1", "question": "What colour is the car?", "options": {"A": "red", "B": "blue"},
     "answer": "B", "category": "colour", "l2_category": "car colour", "image": "imgs/q1.png"}

``index`` defaults to the line number; ``options`` (a dict or a list, lettered A, B, ...) is
appended to the question as ``Options: A: red, B: blue`` (MMStar's layout) -- leave it out when the
question already lists them; ``l2_category`` defaults to ``category`` (default ``all``); ``image``
is a path relative to the JSONL file (or absolute), or ``{"bytes": ...}`` / ``{"path": ...}``.
The same fields in a parquet/arrow/json copy of MMStar or VMCBench are read the same way.
"""
from __future__ import annotations

import base64
import io
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HUB_IDS = {"mmstar": ("Lin-Chen/MMStar", "val"), "vmcbench": ("suyc21/VMCBench", "test")}
LOCAL_SUFFIXES = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json",
                  ".csv": "csv"}


@dataclass
class MCQuestion:
    index: str
    question: str          # options included
    answer: str            # gold letter
    category: str
    l2_category: str
    position: int          # row number in the benchmark (lmms-eval doc_id)
    image_source: Any = field(default=None, repr=False)
    base_dir: Path | None = field(default=None, repr=False)

    def load_image(self):
        """The question's image as RGB PIL, with an error naming the question when it fails."""
        from PIL import Image

        src = self.image_source
        if src is None:
            raise ValueError(f"question {self.index} has no image")
        try:
            if isinstance(src, Image.Image):
                img = src
            elif isinstance(src, dict) and src.get("bytes"):
                img = Image.open(io.BytesIO(src["bytes"]))
            elif isinstance(src, dict) and src.get("path"):
                img = Image.open(self._resolve(src["path"]))
            elif isinstance(src, bytes):
                img = Image.open(io.BytesIO(src))
            elif isinstance(src, str) and len(src) > 512 and not Path(src).suffix:
                img = Image.open(io.BytesIO(base64.b64decode(src)))
            elif isinstance(src, str):
                img = Image.open(self._resolve(src))
            else:
                raise TypeError(f"unsupported image value of type {type(src).__name__}")
            return img.convert("RGB")
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f"question {self.index}: cannot load its image ({e})") from e

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        if not p.is_file():
            raise FileNotFoundError(f"image file {p} does not exist")
        return p

    def record(self) -> dict:
        """The fields every stage's output carries."""
        return {"index": self.index, "question": self.question, "answer": self.answer,
                "category": self.category, "l2_category": self.l2_category}


@dataclass
class Benchmark:
    name: str
    questions: list[MCQuestion]
    columns: tuple[str, ...] = ()     # the data's fields, for early checks

    def by_index(self) -> dict[str, MCQuestion]:
        return {q.index: q for q in self.questions}

    def require_images(self, data: str | None = None) -> None:
        """Fail before any model work when the data has no images at all (stage 1 needs them)."""
        if any(q.image_source is not None for q in self.questions):
            return
        where = f"{data} ({self.name})" if data else f"benchmark {self.name}"
        what = "has no 'image' column" if "image" not in self.columns else "has an empty 'image' column"
        raise ValueError(f"{where} {what} (columns: {', '.join(self.columns) or 'none'}); the perception "
                         "stage needs one image per question: pass data with an image column, or run "
                         "`llava-eval reason --descriptions FILE` on existing descriptions")


def options_text(options) -> str:
    """``Options: A: x, B: y`` from a dict or list of option texts (MMStar's layout)."""
    if isinstance(options, dict):
        items = [(k, v) for k, v in options.items() if v is not None and str(v) != ""]
    else:
        items = list(zip(string.ascii_uppercase, options))
    return "Options: " + ", ".join(f"{k}: {v}" for k, v in items)


def _require(row: dict, keys: list[str], where: str) -> None:
    missing = [k for k in keys if row.get(k) is None or row.get(k) == ""]
    if missing:
        raise KeyError(f"{where} lacks the field(s) {missing}; present: {sorted(row)}")


def _mmstar_question(row: dict, pos: int, base_dir) -> MCQuestion:
    where = f"MMStar record {row.get('index', pos)} (row {pos})"
    _require(row, ["question", "answer", "category", "l2_category"], where)
    return MCQuestion(index=str(row.get("index", pos)), question=str(row["question"]),
                      answer=str(row["answer"]).strip(), category=str(row["category"]),
                      l2_category=str(row["l2_category"]), position=pos,
                      image_source=row.get("image"), base_dir=base_dir)


def _vmcbench_question(row: dict, pos: int, base_dir) -> MCQuestion:
    where = f"VMCBench record {row.get('index', pos)} (row {pos})"
    _require(row, ["question", "A", "B", "answer", "category"], where)
    options = {k: row.get(k) for k in "ABCD"}
    return MCQuestion(index=str(row.get("index", pos)),
                      question=f"{str(row['question']).strip()}\n{options_text(options)}",
                      answer=str(row["answer"]).strip(), category=str(row["category"]),
                      l2_category=str(row["category"]), position=pos,
                      image_source=row.get("image"), base_dir=base_dir)


def _generic_question(row: dict, pos: int, base_dir) -> MCQuestion:
    where = f"record {row.get('index', pos)} (line {pos + 1})"
    _require(row, ["question", "answer"], where)
    question = str(row["question"]).strip()
    if row.get("options"):
        question = f"{question}\n{options_text(row['options'])}"
    category = str(row.get("category") or "all")
    return MCQuestion(index=str(row.get("index", pos)), question=question,
                      answer=str(row["answer"]).strip(), category=category,
                      l2_category=str(row.get("l2_category") or category), position=pos,
                      image_source=row.get("image"), base_dir=base_dir)


BUILDERS = {"mmstar": _mmstar_question, "vmcbench": _vmcbench_question, "jsonl": _generic_question}


def _rows_from_datasets(kind: str, data: str | None, split: str | None):
    import datasets

    if data is None:
        hub_id, default_split = HUB_IDS[kind]
        return datasets.load_dataset(hub_id, split=split or default_split), None
    path = Path(data).expanduser()
    saved = ("dataset_info.json", "state.json", "dataset_dict.json")
    if path.is_dir() and any((path / n).exists() for n in saved):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            split = split or HUB_IDS[kind][1]
            if split not in ds:
                raise KeyError(f"{path} has splits {list(ds)}, not {split!r}; pass --split")
            ds = ds[split]
        return ds, path
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in LOCAL_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"{path} holds no parquet/arrow/json files and is not a saved dataset")
        if split:
            chosen = [p for p in files if split in p.name] or files
            files = chosen
        fmt = LOCAL_SUFFIXES[files[0].suffix]
        return datasets.load_dataset(fmt, data_files=[str(p) for p in files], split="train"), path
    if path.is_file():
        if path.suffix not in LOCAL_SUFFIXES:
            raise ValueError(f"{path}: unsupported file type; use parquet, arrow, json or jsonl")
        return (datasets.load_dataset(LOCAL_SUFFIXES[path.suffix], data_files=str(path), split="train"),
                path.parent)
    if "/" in data and not data.startswith((".", "/")):
        return datasets.load_dataset(data, split=split or HUB_IDS[kind][1]), None
    raise FileNotFoundError(f"benchmark data {data} does not exist (give a hub id, a saved dataset "
                            "folder, or a parquet/arrow/json file)")


def _undecoded_images(ds):
    """Keep images as encoded bytes until a stage needs them (1500 decoded MMStar images are GBs)."""
    import datasets

    feature = ds.features.get("image") if hasattr(ds, "features") else None
    if isinstance(feature, datasets.Image) and feature.decode:
        return ds.cast_column("image", datasets.Image(decode=False))
    return ds


def load_benchmark(kind: str, data: str | None = None, split: str | None = None,
                   limit: int | None = None, categories: list[str] | None = None) -> Benchmark:
    """Load ``mmstar``/``vmcbench`` (hub or local copy) or ``jsonl`` (the generic format)."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown benchmark {kind!r}; choose one of {sorted(BUILDERS)}")
    build = BUILDERS[kind]
    if kind == "jsonl":
        if data is None:
            raise ValueError("--benchmark jsonl needs --data PATH.jsonl")
        path = Path(data).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"benchmark file {path} does not exist")
        rows = []
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{path} line {lineno} is not valid JSON: {e.msg}") from None
        base_dir = path.parent
        name = path.stem
        columns = tuple(dict.fromkeys(k for row in rows for k in row))
    else:
        rows, base_dir = _rows_from_datasets(kind, data, split)
        rows = _undecoded_images(rows)
        name = kind
        columns = tuple(rows.column_names)
    questions = []
    for pos, row in enumerate(rows):
        q = build(dict(row), pos, base_dir)
        if categories and q.category not in categories:
            continue
        questions.append(q)
        if limit is not None and len(questions) >= limit:
            break
    seen: set[str] = set()
    for q in questions:
        if q.index in seen:
            raise ValueError(f"benchmark {name}: index {q.index} appears twice; indices must be unique")
        seen.add(q.index)
    if not questions:
        raise ValueError(f"benchmark {name} has no questions (check --categories / --limit)")
    return Benchmark(name=name, questions=questions, columns=columns)
