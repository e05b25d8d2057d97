"""Append-only JSONL artifacts keyed by question index, and the results-path naming.

Every stage writes one JSON line per finished question and flushes after each batch, so an
interrupted run loses at most a batch: on restart, finished indices are skipped and a half-written
last line is cut off (not fatal). Each artifact has a ``.meta.json`` beside it with the settings
that produced it; the file name carries a short hash of those settings, so changing a prompt or a
sampling setting starts a new artifact instead of mixing outputs.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterable


def settings_hash(settings: dict) -> str:
    """8 hex digits identifying a settings dict (key order does not matter)."""
    blob = json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:8]


def model_slug(name_or_path: str) -> str:
    """A file-name-safe name for a model: hub ids keep owner and name, local folders their name.

    Local folders get a short hash of their absolute path, so two ``checkpoint-1000`` folders from
    different runs never share results.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        resolved = path.resolve()
        base = resolved.name or "model"
        suffix = hashlib.sha256(str(resolved).encode()).hexdigest()[:6]
        return f"{_safe(base)}-{suffix}"
    return _safe(name_or_path.replace("/", "--"))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "x"


class JsonlArtifact:
    """One stage's output: ``{key_field: ...}`` records, one JSON object per line."""

    def __init__(self, path: str | Path, meta: dict | None = None, key_field: str = "index"):
        self.path = Path(path)
        self.key_field = key_field
        self.meta = meta
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if meta is not None:
            self._check_meta(meta)
        self.records: dict[str, dict] = self._load()

    @property
    def meta_path(self) -> Path:
        return self.path.with_name(self.path.name + ".meta.json")

    def _check_meta(self, meta: dict) -> None:
        normalized = json.loads(json.dumps(meta, default=str))
        if self.meta_path.exists():
            old = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if old != normalized:
                changed = sorted(k for k in set(old) | set(normalized) if old.get(k) != normalized.get(k))
                raise ValueError(f"{self.path} was written with different settings (changed: {changed}); "
                                 "delete it or choose another --results-dir to start over")
        else:
            self.meta_path.write_text(json.dumps(normalized, indent=1, ensure_ascii=False) + "\n",
                                      encoding="utf-8")

    def _load(self) -> dict[str, dict]:
        records: dict[str, dict] = {}
        if not self.path.exists():
            return records
        data = self.path.read_bytes()
        good_end = 0
        lines = data.split(b"\n")
        for lineno, raw in enumerate(lines, start=1):
            is_last = lineno == len(lines)
            if not raw.strip():
                if not is_last:
                    good_end += len(raw) + 1
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                if lineno >= len(lines) - 1:  # the last line: written half, cut it off
                    self._truncate(good_end, lineno)
                    break
                raise ValueError(f"{self.path} line {lineno} is not valid JSON (a corrupt artifact); "
                                 "fix or delete that line, then rerun to redo that question") from None
            if self.key_field not in rec:
                raise ValueError(f"{self.path} line {lineno} has no {self.key_field!r} field")
            records[str(rec[self.key_field])] = rec
            good_end += len(raw) + 1
            if is_last:  # a complete object that lost only its newline
                with open(self.path, "ab") as f:
                    f.write(b"\n")
        return records

    def _truncate(self, good_end: int, lineno: int) -> None:
        print(f"[resume] {self.path}: dropping a half-written line {lineno}; that question is redone")
        with open(self.path, "r+b") as f:
            f.truncate(good_end)

    def __contains__(self, key) -> bool:
        return str(key) in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key) -> dict | None:
        return self.records.get(str(key))

    def append(self, records: Iterable[dict]) -> None:
        """Write records and flush them to disk (one batch at a time)."""
        lines = []
        for rec in records:
            self.records[str(rec[self.key_field])] = rec
            lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
        if not lines:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())


def read_jsonl_lines(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, record)`` for every non-blank line; each line must hold one JSON object."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; pass one JSONL file inside it "
                                "(e.g. a reasoning/.../*.jsonl artifact)")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} line {lineno} is not valid JSON: {e.msg}") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path} line {lineno} is a JSON {type(rec).__name__}, not an object "
                                 "(one record per line)")
            out.append((lineno, rec))
    return out


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL file of objects, naming the line of any corrupt record."""
    return [rec for _, rec in read_jsonl_lines(path)]
