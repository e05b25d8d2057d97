"""Surviving kills: SIGKILL mid-shard, half-written lines, changed settings, failed items, locking."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datagen_helpers import FAST_LIMITS, make_vqa, read_jsonl, run_cli
from PIL import Image

from llava.datagen.runner import GenerationAborted
from llava.datagen.store import ShardStore, StoreError
from llava.datagen.teachers import register_teacher
from llava.datagen.teachers.scene import SceneTeacher

SHARD = "shard-00000-of-00001"
STEPS = ("statements", "describe", "focus")


def _indices(path: Path) -> list[int]:
    return sorted(r["index"] for r in read_jsonl(path))


def _scene_run(listing, out, *extra) -> int:
    return run_cli("run", "--datasets", listing, "--output-dir", out, "--backend", "scene", "--no-progress", *extra)


@pytest.mark.slow
def test_sigkill_mid_shard_then_restart_gives_each_index_once(tiny_teacher, tmp_path):
    listing = make_vqa(tmp_path / "data", num_images=10, extras=False)
    args = ["--datasets", listing, "--model", tiny_teacher, "--batch-size", "1", "--no-progress", *FAST_LIMITS]
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    proc = subprocess.Popen([sys.executable, "-m", "llava.datagen.cli", "run", "--output-dir", str(killed),
                             *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    describe = killed / SHARD / "describe.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if describe.exists() and describe.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    written_before = describe.read_bytes().count(b"\n")
    assert 2 <= written_before < 10
    statements_before = (killed / SHARD / "statements.jsonl").read_bytes()

    assert run_cli("run", "--output-dir", killed, *args) == 0
    assert (killed / SHARD / "statements.jsonl").read_bytes() == statements_before  # done work is kept
    for step in STEPS:
        assert _indices(killed / SHARD / f"{step}.jsonl") == list(range(10))
    assert run_cli("merge", "--output-dir", killed) == 0

    assert run_cli("run", "--output-dir", reference, *args) == 0
    for step in STEPS:
        by_index = lambda p: sorted(read_jsonl(p), key=lambda r: r["index"])  # noqa: E731
        assert by_index(killed / SHARD / f"{step}.jsonl") == by_index(reference / SHARD / f"{step}.jsonl")


def test_half_written_last_line_is_truncated_and_regenerated(tmp_path, capsys):
    listing = make_vqa(tmp_path / "data", num_images=5)
    out = tmp_path / "out"
    assert _scene_run(listing, out) == 0
    describe = out / SHARD / "describe.jsonl"
    complete = describe.read_bytes()
    lines = complete.splitlines(keepends=True)
    cut_index = json.loads(lines[-1])["index"]
    describe.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])  # a kill in the middle of a write

    assert run_cli("merge", "--output-dir", out) == 1
    err = capsys.readouterr().err
    assert "half-written last line" in err and f"missing indices (first 20): [{cut_index}]" in err

    assert _scene_run(listing, out) == 0
    assert describe.read_bytes() == complete  # the same record, written once
    assert _indices(describe) == list(range(5))
    assert run_cli("merge", "--output-dir", out) == 0


def test_changed_settings_are_refused_unless_force_new(tmp_path, capsys):
    listing = make_vqa(tmp_path / "data", num_images=3)
    out = tmp_path / "out"
    assert _scene_run(listing, out) == 0
    capsys.readouterr()

    assert _scene_run(listing, out, "--max-new-tokens-describe", "99") == 2
    err = capsys.readouterr().err
    assert "describe.jsonl was generated with different settings (changed: max_new_tokens)" in err
    assert "--force-new" in err

    prompts = tmp_path / "prompts.yaml"
    prompts.write_text("statement_suffix: \"\\nStatements:\"\n")
    assert _scene_run(listing, out, "--prompts", prompts, "--steps", "statements") == 2
    assert "statements.jsonl was generated with different settings (changed: prompt)" in capsys.readouterr().err

    assert _scene_run(listing, out, "--prompts", prompts, "--steps", "statements", "--force-new") == 0
    # describe read the old statements: it must be regenerated too before it can continue
    assert _scene_run(listing, out, "--prompts", prompts, "--steps", "describe") == 2
    assert "changed: upstream" in capsys.readouterr().err
    assert _scene_run(listing, out, "--prompts", prompts, "--force-new") == 0
    stale = sorted(p.name.split("-")[0] for p in (out / SHARD / "stale").iterdir())
    assert stale == ["describe", "statements"]
    for step in STEPS:
        assert _indices(out / SHARD / f"{step}.jsonl") == list(range(3))
    assert run_cli("merge", "--output-dir", out) == 0


def test_failed_items_are_reported_and_retried_on_request(tmp_path):
    listing = make_vqa(tmp_path / "data", num_images=3, corrupt=True)
    out = tmp_path / "out"
    assert _scene_run(listing, out) == 0
    describe = out / SHARD / "describe.jsonl"
    errors = [r for r in read_jsonl(describe) if "error" in r]
    assert [e["image"] for e in errors] == ["broken.png"]

    Image.new("RGB", (20, 20)).save(tmp_path / "data" / "images" / "broken.png")  # the user fixes the image
    assert _scene_run(listing, out) == 0
    assert [r for r in read_jsonl(describe) if "error" in r] == errors  # done is done...
    assert _scene_run(listing, out, "--retry-errors") == 0  # ...unless asked
    assert not [r for r in read_jsonl(describe) if "error" in r]
    assert _indices(describe) == list(range(4))


class FlakyTeacher(SceneTeacher):
    """Fails for the image whose scene asks for it, like a model running out of memory on one item."""

    def description(self, scene, statements):
        if scene.get("fail"):
            raise RuntimeError("CUDA out of memory (simulated)")
        return super().description(scene, statements)


class BrokenTeacher(SceneTeacher):
    def generate_with_images(self, prompts, images, max_new_tokens, contexts=None):
        raise RuntimeError("model weights are garbage")


def test_generation_error_is_isolated_to_its_item(tmp_path):
    listing = make_vqa(tmp_path / "data", num_images=5, extras=False)
    lines = read_jsonl(tmp_path / "data" / "toy.jsonl")
    next(x for x in lines if x["image"] == "img2.png")["scene"]["fail"] = True
    (tmp_path / "data" / "toy.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    register_teacher("flaky", FlakyTeacher)
    out = tmp_path / "out"
    assert run_cli("run", "--datasets", listing, "--output-dir", out, "--backend", "flaky", "--batch-size", "4",
                   "--no-progress") == 0
    records = read_jsonl(out / SHARD / "describe.jsonl")
    errors = [r for r in records if "error" in r]
    assert len(records) == 5 and len(errors) == 1
    assert errors[0]["image"] == "img2.png" and "RuntimeError: CUDA out of memory" in errors[0]["error"]


def test_a_teacher_that_always_fails_stops_the_run_without_marking_items_done(tmp_path):
    listing = make_vqa(tmp_path / "data", num_images=7, extras=False)
    register_teacher("broken", BrokenTeacher)
    out = tmp_path / "out"
    with pytest.raises(GenerationAborted, match="3 batches in a row failed completely; last error: RuntimeError"):
        run_cli("run", "--datasets", listing, "--output-dir", out, "--backend", "broken", "--batch-size", "2",
                "--steps", "statements", "describe", "--no-progress")
    assert _indices(out / SHARD / "statements.jsonl") == list(range(7))
    describe = out / SHARD / "describe.jsonl"
    assert not describe.exists() or read_jsonl(describe) == []


def test_one_writer_per_shard(tmp_path):
    first, second = ShardStore(tmp_path, 0, 2), ShardStore(tmp_path, 0, 2)
    first.lock()
    with pytest.raises(StoreError, match=rf"being written by pid {os.getpid()}"):
        second.lock()
    first.unlock()
    second.lock()
    second.unlock()
