"""What a model *is*, for cache keys: a content hash of the files that define it.

Stage outputs are cached by settings; keying them by a checkpoint's path alone reuses stale outputs
after ``model.safetensors`` is replaced in the same folder. The signature hashes the content of
every file that decides the outputs (weights, configs, tokenizer files). Hashing gigabytes on
every run would be slow, so each file's content hash is remembered in a small JSON cache keyed by
the file's identity (size, mtime, ctime, inode): replacing or rewriting a file changes its ctime,
so it is hashed again; an untouched file costs one ``stat``.

A hub id is signed by the commit of its locally cached snapshot when there is one (else by its
name: a moving ``main`` cannot be pinned without the network).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# Files of a model folder that decide its outputs; training-state files are left out.
SIGNED_SUFFIXES = (".safetensors", ".json", ".txt", ".jinja", ".model", ".tiktoken")
SIGNED_BINARY_PREFIXES = ("pytorch_model",)      # legacy pytorch_model*.bin weights
UNSIGNED_NAMES = {"trainer_state.json", "training_args.json", "eval_results.json", "all_results.json"}
_CHUNK = 1 << 22
_SHOW_PROGRESS = 1 << 28   # files above 256 MB get a progress bar the first time they are hashed


def cache_file() -> Path:
    """``$LLAVA_HASH_CACHE``, else ``~/.cache/llava-extract-think/file_hashes.json``."""
    if os.environ.get("LLAVA_HASH_CACHE"):
        return Path(os.environ["LLAVA_HASH_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "llava-extract-think" / "file_hashes.json"


def _signed_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name in UNSIGNED_NAMES:
            continue
        if path.suffix in SIGNED_SUFFIXES or (path.suffix == ".bin" and path.name.startswith(SIGNED_BINARY_PREFIXES)):
            files.append(path)
    return files


def _identity(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def _content_hash(path: Path) -> str:
    from tqdm import tqdm

    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f, tqdm(total=size, unit="B", unit_scale=True, desc=f"hashing {path.name}",
                                     disable=size < _SHOW_PROGRESS, leave=False) as bar:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


class FileHashCache:
    """``{absolute path: [identity, sha256]}`` persisted as JSON; unreadable caches start empty."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else cache_file()
        try:
            self.entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def sha256(self, path: Path) -> str:
        key = str(path.resolve())
        identity = _identity(path.stat())
        cached = self.entries.get(key)
        if isinstance(cached, list) and len(cached) == 2 and cached[0] == identity:
            return cached[1]
        value = _content_hash(path)
        if _identity(path.stat()) == identity:   # not rewritten while we read it
            self.entries[key] = [identity, value]
            self.dirty = True
        return value

    def save(self) -> None:
        if not self.dirty:
            return
        self.entries = {k: v for k, v in self.entries.items() if Path(k).exists()}  # forget deleted files
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only home only costs re-hashing next time
        self.dirty = False


def model_signature(name_or_path: str, cache: FileHashCache | None = None) -> str:
    """``sha256:<16 hex>`` for a local model folder, ``hub:<id>@<commit>`` for a hub id."""
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        files = _signed_files(folder)
        if not files:
            raise FileNotFoundError(f"model folder {folder} holds no weights or config files")
        cache = cache or FileHashCache()
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.name}\0{cache.sha256(path)}\n".encode())
        cache.save()
        return "sha256:" + digest.hexdigest()[:16]
    if folder.is_file():
        raise ValueError(f"{folder} is a file; pass the model folder that holds config.json")
    return f"hub:{name_or_path}@{_cached_commit(name_or_path) or 'unpinned'}"


def _cached_commit(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:   # a malformed id, no cache: nothing to pin
        return None
    if isinstance(found, str):
        return Path(found).parent.name   # .../snapshots/<commit>/config.json
    return None
