"""Deterministic shards, Slurm arrays, and the merge's exactly-once check."""
from __future__ import annotations

import json
import shutil

import pytest
from datagen_helpers import make_vqa, read_jsonl, run_cli

from llava.datagen.sharding import resolve_shard, shard_indices


def _run(listing, out, *extra) -> int:
    return run_cli("run", "--datasets", listing, "--output-dir", out, "--backend", "scene", "--no-progress", *extra)


def test_shard_resolution_from_flags_and_slurm():
    assert resolve_shard(None, None, env={}) == (0, 1)
    assert resolve_shard(4, 3, env={"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}) == (3, 4)
    assert resolve_shard(None, None, env={"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"}) == (2, 3)
    assert resolve_shard(None, None, env={"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4",
                                          "SLURM_ARRAY_TASK_MIN": "4"}) == (1, 4)  # --array=4-7
    with pytest.raises(ValueError, match="outside 0..3"):
        resolve_shard(4, 4, env={})
    with pytest.raises(ValueError, match="cannot derive the shard"):
        resolve_shard(None, None, env={"SLURM_ARRAY_TASK_ID": "1"})
    with pytest.raises(ValueError, match="with a step"):
        resolve_shard(None, None, env={"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "2",
                                       "SLURM_ARRAY_TASK_STEP": "2"})
    assert resolve_shard(16, None, env={"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "2",
                                        "SLURM_ARRAY_TASK_MIN": "3"}) == (7, 16)  # resubmitted --array=3,7
    assert list(shard_indices(10, 1, 3)) == [1, 4, 7]


def test_three_shards_cover_every_index_once_and_merge_like_one(tmp_path, monkeypatch):
    listing = make_vqa(tmp_path / "data", num_images=8)
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    assert _run(listing, single) == 0
    for shard in (0, 2):
        assert _run(listing, sharded, "--num-shards", 3, "--shard-id", shard) == 0
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")  # the third shard as a Slurm array task
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert _run(listing, sharded) == 0

    seen = []
    for shard in range(3):
        indices = [r["index"] for r in read_jsonl(sharded / f"shard-{shard:05d}-of-00003" / "describe.jsonl")]
        assert all(i % 3 == shard for i in indices)
        seen += indices
    assert sorted(seen) == list(range(8))

    assert run_cli("merge", "--output-dir", single) == 0 and run_cli("merge", "--output-dir", sharded) == 0
    merged = json.loads((sharded / "final" / "toy.json").read_text())
    assert merged == json.loads((single / "final" / "toy.json").read_text())
    assert [s["image"] for s in merged][:3] == ["sub/img0.png", "img1.png", "img2.png"]  # input order


def test_merge_names_missing_indices_and_refuses(tmp_path, capsys):
    listing = make_vqa(tmp_path / "data", num_images=6)
    out = tmp_path / "out"
    assert _run(listing, out, "--num-shards", 2, "--shard-id", 0) == 0
    assert run_cli("merge", "--output-dir", out) == 1
    err = capsys.readouterr().err
    assert "describe: 3 missing" in err and "missing indices (first 20): [1, 3, 5]" in err
    assert not (out / "final").exists()

    assert run_cli("merge", "--output-dir", out, "--allow-incomplete", "--format", "jsonl") == 0
    assert len(read_jsonl(out / "final" / "toy.jsonl")) == 3


def test_records_copied_between_shards_are_caught(tmp_path, capsys):
    listing = make_vqa(tmp_path / "data", num_images=4)
    out = tmp_path / "out"
    for shard in (0, 1):
        assert _run(listing, out, "--num-shards", 2, "--shard-id", shard) == 0
    a, b = out / "shard-00000-of-00002", out / "shard-00001-of-00002"
    shutil.copy(a / "focus.jsonl", b / "focus.jsonl")  # someone copies the wrong file
    assert run_cli("merge", "--output-dir", out) == 1
    assert "focus: 2 missing, 2 recorded more than once" in capsys.readouterr().err
    assert _run(listing, out, "--num-shards", 2, "--shard-id", 1) == 2
    assert "belongs to another shard" in capsys.readouterr().err


def test_a_different_shard_layout_in_the_same_folder_is_refused(tmp_path, capsys):
    listing = make_vqa(tmp_path / "data", num_images=4)
    out = tmp_path / "out"
    assert _run(listing, out, "--num-shards", 2, "--shard-id", 0) == 0
    assert _run(listing, out, "--num-shards", 3, "--shard-id", 0) == 2
    assert "already holds shards of a run with --num-shards 2" in capsys.readouterr().err
    (out / "shard-00000-of-00003").mkdir()  # made by hand: merge still refuses to mix layouts
    assert run_cli("merge", "--output-dir", out) == 2
    assert "mixes runs with different --num-shards [2, 3]" in capsys.readouterr().err
