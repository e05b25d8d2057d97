"""The demo's provider of the embedded default never deletes what it did not create: a foreign folder
is refused untouched, and a rebuild replaces only the builder's own entries (trained runs survive)."""
from __future__ import annotations

import pytest

from llava.demo import embedded


def test_a_foreign_non_empty_folder_is_refused_and_left_alone(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="not empty and was not created by the embedded default"):
        embedded.prepare(root)
    assert [p.name for p in root.iterdir()] == ["thesis.tex"]
    assert (root / "thesis.tex").read_text() == "years of work"


def test_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        embedded.prepare(tmp_path / "f")


@pytest.mark.slow
def test_a_rebuild_keeps_what_the_builder_did_not_write(tmp_path, monkeypatch):
    root = tmp_path / "tiny"
    monkeypatch.setenv("LLAVA_TINY_TRAIN_IMAGES", "6")
    first = embedded.prepare(root)
    assert (root / embedded.OWNER_MARKER).is_file() and first.checkpoint.is_dir()
    (root / "runs" / "extract").mkdir(parents=True)
    (root / "runs" / "extract" / "model.safetensors").write_text("trained weights")
    (root / "notes.txt").write_text("mine")
    built_before = (root / "world" / "world.json").stat().st_mtime_ns

    assert embedded.prepare(root) == first  # complete: reused as it is
    assert (root / "world" / "world.json").stat().st_mtime_ns == built_before

    monkeypatch.setenv("LLAVA_TINY_TRAIN_IMAGES", "7")  # another size: rebuilt in place
    embedded.prepare(root)
    assert (root / "runs" / "extract" / "model.safetensors").read_text() == "trained weights"
    assert (root / "notes.txt").read_text() == "mine"
    assert (root / embedded.COMPLETE_MARKER).read_text().split() == [embedded.VERSION, "7"]
