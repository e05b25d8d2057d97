"""The multi-seed summary (mean and min-max per system and question type) and the demo's pictures."""
from __future__ import annotations

import json

import pytest

from llava.demo import summary, world

TYPES = list(world.QUESTION_TYPES)


def _record(seed: int, overall: float, color: float) -> dict:
    per_type = {t: 0.25 for t in TYPES}
    per_type["color"] = color
    return {"seed": seed, "chance": 0.25, "systems": {
        "A": {"overall": overall, "per_type": per_type, "questions": 140},
        "B": {"overall": 0.25, "per_type": {t: 0.25 for t in TYPES}, "questions": 140}},
        "extractions": {"objects": 0.9 + seed / 100}, "statements": {"overall": 0.5}}


def test_mean_and_spread_per_system_and_type(tmp_path):
    for seed, overall, color in ((0, 0.8, 1.0), (1, 0.6, 0.5), (2, 0.7, 0.75)):
        (tmp_path / f"seed_{seed}").mkdir()
        (tmp_path / f"seed_{seed}" / "results.json").write_text(json.dumps(_record(seed, overall, color)))
    folders = [str(tmp_path / f"seed_{s}") for s in (0, 1, 2)]
    summary.main([*folders, "--out", str(tmp_path / "summary.md"), "--json", str(tmp_path / "summary.json")])
    numbers = json.loads((tmp_path / "summary.json").read_text())
    a = numbers["systems"]["A"]
    assert a["overall"]["mean"] == pytest.approx(0.7) and (a["overall"]["min"], a["overall"]["max"]) == (0.6, 0.8)
    assert a["per_type"]["color"]["mean"] == pytest.approx(0.75)
    assert numbers["perception"]["extraction objects right"]["max"] == pytest.approx(0.92)
    text = (tmp_path / "summary.md").read_text()
    assert "| A | **70% (60%-80%)** | 75% (50%-100%) |" in text
    assert "| 1 | 60% | 25% |" in text  # per-seed overall table
    assert (tmp_path / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_run_is_named(tmp_path):
    with pytest.raises(SystemExit, match="seed_9/results.json does not exist"):
        summary.main([str(tmp_path / "seed_9")])


def test_corrupt_run_is_named(tmp_path):
    (tmp_path / "seed_3").mkdir()
    (tmp_path / "seed_3" / "results.json").write_text('{"seed": 3, "systems"')  # cut off mid-write
    with pytest.raises(SystemExit, match="seed_3/results.json is not valid JSON"):
        summary.main([str(tmp_path / "seed_3")])


def test_the_same_seed_twice_is_refused(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_record(1, 0.6, 0.5)))
    with pytest.raises(SystemExit, match="b/results.json: seed 1 is already summarized"):
        summary.main([str(tmp_path / "a"), str(tmp_path / "b")])


def test_pictures_are_written_and_linked(tmp_path):
    from llava.demo import results

    run = tmp_path / "run"
    run.mkdir()
    (run / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": s, "loss": 5.0 / s} for s in range(1, 30)] + [{"train_runtime": 3.0}]}))
    record = _record(0, 0.8, 1.0)
    lines = results.pictures(record, {"stage": str(run)}, tmp_path)
    assert lines == ["![accuracy per question type](results.png)", "![training loss of each stage](losses.png)"]
    for name in ("results.png", "losses.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
