"""Append-only JSONL artifacts: resume, half-written lines, settings changes."""
import json

import pytest

from llava.eval.artifacts import JsonlArtifact, model_slug, settings_hash


def test_roundtrip_and_half_written_last_line(tmp_path, capsys):
    path = tmp_path / "a.jsonl"
    art = JsonlArtifact(path, {"x": 1})
    art.append([{"index": "1", "v": "a"}, {"index": 2, "v": "b"}])
    with open(path, "a") as f:
        f.write('{"index": "3", "v": "trunc')          # the process died mid-write
    again = JsonlArtifact(path, {"x": 1})
    assert sorted(again.records) == ["1", "2"] and 2 in again and "3" not in again
    assert "half-written line 3" in capsys.readouterr().out
    again.append([{"index": "3", "v": "c"}])
    lines = path.read_text().splitlines()
    assert [json.loads(l)["v"] for l in lines] == ["a", "b", "c"]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"index": "1"}\n{"index": "2"}')
    art = JsonlArtifact(path)
    assert sorted(art.records) == ["1", "2"]
    art.append([{"index": "3"}])
    assert len(path.read_text().splitlines()) == 3


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"index": "1"}\nnot json\n{"index": "3"}\n')
    with pytest.raises(ValueError, match="line 2"):
        JsonlArtifact(path)


def test_changed_settings_refuse_to_mix(tmp_path):
    JsonlArtifact(tmp_path / "a.jsonl", {"temperature": 0.6})
    with pytest.raises(ValueError, match="temperature"):
        JsonlArtifact(tmp_path / "a.jsonl", {"temperature": 0.7})


def test_names(tmp_path):
    assert model_slug("Qwen/Qwen3-4B") == "Qwen--Qwen3-4B"
    a, b = tmp_path / "r1" / "checkpoint-10", tmp_path / "r2" / "checkpoint-10"
    a.mkdir(parents=True), b.mkdir(parents=True)
    assert model_slug(str(a)).startswith("checkpoint-10-") and model_slug(str(a)) != model_slug(str(b))
    assert settings_hash({"a": 1, "b": 2}) == settings_hash({"b": 2, "a": 1}) != settings_hash({"a": 2, "b": 2})
