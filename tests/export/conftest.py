"""Shared fixtures: one tiny LLaVA-NeXT checkpoint and its export, built once per test session."""
from __future__ import annotations

import pytest

from tests.export.helpers import ASYMMETRIC_PINPOINTS


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    from llava.tiny.models import build_tiny_llava_checkpoint

    return build_tiny_llava_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt", seed=0,
                                       image_grid_pinpoints=ASYMMETRIC_PINPOINTS)


@pytest.fixture(scope="session")
def exported(tiny_checkpoint, tmp_path_factory):
    from llava.export import export

    out = tmp_path_factory.mktemp("export")
    return export(tiny_checkpoint, out / "tiny-extract", formats=("hf", "llava"))
