"""Bookkeeping for training samples that were skipped instead of crashing the run.

A bad sample (missing or corrupt image, malformed JSONL line, empty conversation, over-long or
fully-masked sample) is recorded with its dataset name, id and reason. Records made at load time
and lazily in `__getitem__` (possibly inside dataloader workers, which is why records travel with
the batch) are merged across ranks at the end and written as one JSON report.
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

REPORT_NAME = "skipped_samples.json"


@dataclass(frozen=True)
class BadSample:
    dataset: str
    sample_id: str
    reason: str  # short machine-readable kind, e.g. "missing_image"
    detail: str = ""  # human-readable explanation with the path / numbers involved
    stage: str = "load"  # "load" (checked when the mixture was read) or "train" (found in __getitem__)

    def describe(self) -> str:
        return f"[{self.dataset}] id={self.sample_id}: {self.reason} ({self.detail})"


class BadSampleLog:
    """Collects bad samples on one rank; `gather` merges all ranks (deduplicated)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str, str], BadSample] = {}

    def add(self, record: BadSample) -> None:
        key = (record.dataset, record.sample_id, record.reason)
        if key not in self._records:
            self._records[key] = record

    def extend(self, records) -> None:
        for r in records:
            self.add(r if isinstance(r, BadSample) else BadSample(**r))

    @property
    def records(self) -> list[BadSample]:
        return sorted(self._records.values(), key=lambda r: (r.dataset, r.sample_id, r.reason))

    def __len__(self) -> int:
        return len(self._records)

    def gather(self) -> "BadSampleLog":
        """All ranks' records, merged; every rank must call this (it is a collective)."""
        import torch.distributed as dist

        merged = BadSampleLog()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list = [None] * dist.get_world_size()
            dist.all_gather_object(parts, [asdict(r) for r in self.records])
            for part in parts:
                merged.extend(part)
        else:
            merged.extend(self.records)
        return merged

    def summary(self) -> dict:
        by_reason = Counter(r.reason for r in self._records.values())
        by_dataset = Counter(r.dataset for r in self._records.values())
        return {"total": len(self), "by_reason": dict(sorted(by_reason.items())),
                "by_dataset": dict(sorted(by_dataset.items()))}

    def write_report(self, output_dir: str | os.PathLike) -> Path:
        path = Path(output_dir) / REPORT_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"summary": self.summary(), "samples": [asdict(r) for r in self.records]}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def log_summary(self, max_lines: int = 50) -> None:
        if not self._records:
            logger.info("Data: no samples were skipped.")
            return
        logger.warning("Data: %d sample(s) were skipped: %s", len(self), self.summary()["by_reason"])
        for r in self.records[:max_lines]:
            logger.warning("  skipped %s", r.describe())
        if len(self) > max_lines:
            logger.warning("  ... and %d more (see %s)", len(self) - max_lines, REPORT_NAME)
