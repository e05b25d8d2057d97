"""`llava-eval score` and stage 1 on malformed input: one-line errors, nothing scored twice or silently."""
import json


from llava.eval.cli import main

GOOD = {"index": "q0", "answer": "A", "category": "c", "output": "Answer: A"}


def _write(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err          # one line, no traceback
    return err


def test_json_array_line_names_file_and_line(tmp_path, capsys):
    path = _write(tmp_path / "out.jsonl", [GOOD, '["q1", "A"]'])
    assert main(["score", "--input", str(path)]) == 2
    err = _error(capsys)
    assert f"{path} line 2" in err and "list" in err


def test_directory_input_is_called_a_directory(tmp_path, capsys):
    assert main(["score", "--input", str(tmp_path)]) == 2
    err = _error(capsys)
    assert "is a directory" in err and "does not exist" not in err and ".jsonl" in err


def test_duplicate_index_is_refused_not_scored_twice(tmp_path, capsys):
    path = _write(tmp_path / "out.jsonl", [GOOD, {**GOOD, "output": "Answer: B"}])
    assert main(["score", "--input", str(path)]) == 2
    err = _error(capsys)
    assert "q0 appears twice" in err and "line 1" in err and "line 2" in err
    assert not (tmp_path / "out.scores.json").exists()


def test_null_output_is_counted_and_reported(tmp_path, capsys):
    path = _write(tmp_path / "out.jsonl", [GOOD, {**GOOD, "index": "q1", "output": None}])
    assert main(["score", "--input", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 question(s) had no output (null)" in out and "index q1" in out
    summary = json.loads((tmp_path / "out.scores.json").read_text())
    assert summary["num_no_output"] == 1 and summary["num_correct"] == 1 and summary["num_questions"] == 2
    assert [q["no_output"] for q in summary["questions"]] == [False, True]


def test_null_gold_answer_is_refused(tmp_path, capsys):
    path = _write(tmp_path / "out.jsonl", [GOOD, {**GOOD, "index": "q1", "answer": None}])
    assert main(["score", "--input", str(path)]) == 2
    err = _error(capsys)
    assert "q1" in err and "line 2" in err and "no gold answer" in err


def test_extract_think_without_image_column_fails_before_any_model_work(tmp_path, capsys, monkeypatch):
    import llava.eval.pipeline as pipeline

    def must_not_run(*args, **kwargs):
        raise AssertionError("a stage ran although the data has no images")

    monkeypatch.setattr(pipeline, "run_focus", must_not_run)
    monkeypatch.setattr(pipeline, "run_perception", must_not_run)
    data = _write(tmp_path / "bench.jsonl", [{"index": f"q{i}", "question": "What colour?", "answer": "A",
                                             "category": "c"} for i in range(3)])
    assert main(["extract-think", "--benchmark", "jsonl", "--data", str(data), "--perception", str(tmp_path),
                 "--reasoner", str(tmp_path), "--focus-model", "some/model",
                 "--results-dir", str(tmp_path / "res")]) == 2
    err = _error(capsys)
    assert "no 'image' column" in err and str(data) in err and "index, question, answer, category" in err
    assert not (tmp_path / "res").exists()
