"""Fixtures for the data-generation tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    from llava.tiny.qwen3_vl import build_tiny_qwen3_vl

    return build_tiny_qwen3_vl(tmp_path_factory.mktemp("teacher") / "tiny-qwen3-vl")
