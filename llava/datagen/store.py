"""Append-only JSONL per shard and step, a manifest with cache keys, and crash recovery.

Layout: `OUT/shard-00003-of-00016/{statements,describe,focus}.jsonl` + `manifest.json`. One record
per item index (a result or an `error`). A process killed mid-write leaves at most one line without
its newline; reopening the file truncates it away, so the item is generated again and never
recorded twice. An exclusive lock stops two processes from writing the same shard.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from llava.utils.folder_lock import FolderBusy, FolderLock

MANIFEST = "manifest.json"
FORMAT = "llava-datagen/1"
_SHARD_DIR = re.compile(r"shard-(\d{5})-of-(\d{5})")


class StoreError(RuntimeError):
    """Outputs on disk that cannot be used as they are; the message names the file and the fix."""


def shard_dir_name(shard_id: int, num_shards: int) -> str:
    return f"shard-{shard_id:05d}-of-{num_shards:05d}"


def parse_shard_dir(name: str) -> tuple[int, int] | None:
    match = _SHARD_DIR.fullmatch(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def write_json_atomic(path: Path, data, indent: int | None = 2) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_records(path: Path, repair: bool = False) -> tuple[dict[int, dict], bool]:
    """Records of one step file by index, and whether a half-written last line was found.

    With `repair`, that line is truncated away on disk (only the shard's writer may do this).
    A corrupt line that is not the last, or an index recorded twice, cannot come from this writer:
    it is an error naming the line.
    """
    if not path.exists():
        return {}, False
    data = path.read_bytes()
    partial = bool(data) and not data.endswith(b"\n")
    if partial:
        keep = data.rfind(b"\n") + 1
        data = data[:keep]
        if repair:
            with open(path, "r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
    records: dict[int, dict] = {}
    for line_no, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            index = record["index"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise StoreError(f"{path}:{line_no} is not a valid record ({exc}); delete that line to regenerate the "
                             f"item") from exc
        if index in records:
            raise StoreError(f"{path}:{line_no}: index {index} is recorded twice; delete one of the two lines")
        records[index] = record
    return records, partial


class ShardStore:
    """The output folder of one shard, used by the one process that owns it (see `lock`)."""

    def __init__(self, out_dir: str | Path, shard_id: int, num_shards: int):
        self.shard_id, self.num_shards = shard_id, num_shards
        self.dir = Path(out_dir) / shard_dir_name(shard_id, num_shards)
        self._lock = FolderLock(self.dir)  # held while this process writes the shard

    def path(self, step: str) -> Path:
        return self.dir / f"{step}.jsonl"

    def lock(self) -> None:
        try:
            self._lock.acquire()
        except FolderBusy as busy:
            raise StoreError(f"{self.dir} is being written by {busy.holder}; one process per shard (check for a "
                             "duplicate job or a wrong --shard-id)") from None

    def unlock(self) -> None:
        self._lock.release()

    def load(self, step: str) -> tuple[dict[int, dict], bool]:
        records, partial = read_records(self.path(step), repair=True)
        foreign = [i for i in records if i % self.num_shards != self.shard_id]
        if foreign:
            raise StoreError(f"{self.path(step)} holds index {foreign[0]}, which belongs to another shard; the file "
                             f"was copied between shard folders")
        return records, partial

    def append(self, step: str, records: list[dict]) -> None:
        if not records:
            return
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        with open(self.path(step), "ab") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

    def drop_errors(self, step: str) -> int:
        """Rewrite the step file without its error records (so `--retry-errors` regenerates them)."""
        records, _ = self.load(step)
        kept = [r for r in records.values() if "error" not in r]
        dropped = len(records) - len(kept)
        if dropped:
            tmp = self.path(step).with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
            os.replace(tmp, self.path(step))
        return dropped

    def archive(self, step: str, old_key: str) -> Path | None:
        """Move a step's records out of the way (`--force-new`); nothing is deleted."""
        if not self.path(step).exists():
            return None
        stale = self.dir / "stale"
        stale.mkdir(exist_ok=True)
        target = stale / f"{step}-{old_key}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
        os.replace(self.path(step), target)
        return target

    def read_manifest(self) -> dict | None:
        path = self.dir / MANIFEST
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path} is not valid JSON ({exc}); delete it only if the step files are also "
                             f"deleted") from exc

    def write_manifest(self, manifest: dict) -> None:
        write_json_atomic(self.dir / MANIFEST, manifest)
