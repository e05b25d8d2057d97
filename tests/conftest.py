"""Suite-wide settings and fixtures.

The embedded tiny default (`llava.embedded_default`, provided by the demo: its world and tiny models)
is built with a few dozen training images instead of the demo's 6000, once per session; test modules
take private copies of it (`copy_tiny_assets`). `tests/export/test_sources.py` lets the stage script build its
own, the path a user's first run takes.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("LLAVA_TINY_TRAIN_IMAGES", "48")


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
