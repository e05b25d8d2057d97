"""Reading lmms-eval sample logs (both filtered_resps shapes) and writing them."""
import json

import pytest

from llava.eval.benchmarks import MCQuestion
from llava.eval.lmms_logs import read_lmms_descriptions, response_text, write_lmms_samples


def _questions():
    return [MCQuestion(index=f"q{i}", question=f"Q{i}?", answer="ABCD"[i], category="c", l2_category="l",
                       position=i) for i in range(3)]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("shape", ["list", "string"])
def test_both_filtered_resps_shapes(tmp_path, shape):
    rows = []
    for i in (2, 0, 1):  # any order; doc_id is the row number
        text = f"description {i}"
        rows.append({"doc_id": i, "target": "ABCD"[i], "input": "Describe ...",
                     "filtered_resps": [text] if shape == "list" else text, "resps": [[text]]})
    _write(tmp_path / "log.jsonl", rows)
    got = read_lmms_descriptions(tmp_path / "log.jsonl", _questions())
    assert got == {"q0": "description 0", "q1": "description 1", "q2": "description 2"}


def test_mismatched_target_and_missing_fields(tmp_path):
    _write(tmp_path / "bad.jsonl", [{"doc_id": 0, "target": "D", "filtered_resps": ["x"]}])
    with pytest.raises(ValueError, match="another dataset"):
        read_lmms_descriptions(tmp_path / "bad.jsonl", _questions())
    _write(tmp_path / "not_log.jsonl", [{"index": 0, "text": "x"}])
    with pytest.raises(KeyError, match="log_samples"):
        read_lmms_descriptions(tmp_path / "not_log.jsonl", _questions())
    with pytest.raises(ValueError, match="empty list"):
        response_text([], "here")


def test_a_bad_record_is_named_by_its_file_line(tmp_path):
    good = json.dumps({"doc_id": 0, "target": "A", "filtered_resps": ["x"]})
    (tmp_path / "log.jsonl").write_text(good + "\n\n" + json.dumps({"doc_id": 1}) + "\n")  # blank line 2
    with pytest.raises(KeyError, match=r"log\.jsonl line 3 lacks doc_id/filtered_resps"):
        read_lmms_descriptions(tmp_path / "log.jsonl", _questions())


def test_written_samples_read_back(tmp_path):
    qs = _questions()
    recs = [dict(q.record(), prompt="Describe", description=f"d{q.index}") for q in qs]
    write_lmms_samples(tmp_path / "s.jsonl", recs, qs, "description")
    first = json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])
    assert first["doc_id"] == 0 and first["target"] == "A" and first["filtered_resps"] == ["dq0"]
    assert first["input"] == "Describe"
    assert read_lmms_descriptions(tmp_path / "s.jsonl", qs) == {q.index: f"d{q.index}" for q in qs}
