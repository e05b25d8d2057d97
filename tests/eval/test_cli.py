"""`llava-eval` end to end on tiny models: every subcommand, caching, and user errors."""
import json

import pytest

from llava.eval.cli import main


@pytest.fixture()
def common(tmp_path, mc_benchmark):
    return ["--benchmark", "jsonl", "--data", str(mc_benchmark), "--results-dir", str(tmp_path / "res"),
            "--device", "cpu", "--dtype", "fp32"]


def _reason_args(tiny_reasoner):
    return ["--reasoner", str(tiny_reasoner), "--greedy", "--budget", "8", "--max-new-tokens", "12",
            "--batch-size", "4"]


def test_extract_think_caption_think_end_to_end(tmp_path, common, tiny_perception, tiny_reasoner, capsys):
    focus = tmp_path / "focus.json"
    focus.write_text(json.dumps({f"q{i}": "the colour of the shape" for i in range(6)}))
    perception = ["--perception", str(tiny_perception[0]), "--perception-max-new-tokens", "6"]
    assert main(["extract-think", *common, "--focus-file", str(focus), *perception,
                 *_reason_args(tiny_reasoner)]) == 0
    out = capsys.readouterr().out
    assert "Extract+Think on bench" in out and "| colour |" in out and "| **average** |" in out
    tables = sorted((tmp_path / "res" / "bench" / "reasoning").rglob("*.table.md"))
    assert len(tables) == 1
    scores = json.loads(tables[0].with_name(tables[0].name.replace(".table.md", ".scores.json")).read_text())
    assert len(scores["questions"]) == 6 and scores["matcher"] == "lmms-eval-0.4"
    assert scores["benchmark"] == "bench" and scores["system"] == "Extract+Think"
    from llava.export.model_card import load_eval_report   # the report llava-export puts in model cards

    assert load_eval_report(tables[0].with_name(tables[0].name.replace(".table.md", ".scores.json")))

    assert main(["extract-think", *common, "--focus-file", str(focus), *perception,
                 *_reason_args(tiny_reasoner)]) == 0          # rerun: everything cached
    assert "| **average** |" in capsys.readouterr().out
    assert len(sorted((tmp_path / "res").rglob("*.jsonl"))) == 3   # no new artifacts (2 + lmms samples)

    assert main(["caption-think", *common, *perception, *_reason_args(tiny_reasoner), "--thinking", "off"]) == 0
    assert "Caption+Think" in capsys.readouterr().out
    assert main(["end-to-end", *common, "--perception", str(tiny_perception[1])]) == 0
    assert "end-to-end on bench" in capsys.readouterr().out
    assert len(list((tmp_path / "res" / "bench" / "perception").rglob("end-to-end-*.scores.json"))) == 1


def test_reason_from_lmms_log_and_score(tmp_path, common, tiny_reasoner, capsys):
    log = tmp_path / "samples.jsonl"
    log.write_text("".join(json.dumps({"doc_id": i, "target": "ABCD"[i % 4], "input": "Describe",
                                       "filtered_resps": f"A shape number {i}."}) + "\n" for i in range(6)))
    assert main(["reason", *common, "--descriptions", str(log), *_reason_args(tiny_reasoner)]) == 0
    out = capsys.readouterr().out
    assert "| **average** |" in out
    outputs = next(p for p in (tmp_path / "res").rglob("*.jsonl") if not p.name.endswith("meta.json"))
    assert outputs.parent.name.startswith("lmms-samples-")
    first = json.loads(outputs.read_text().splitlines()[0])
    assert "A shape number" in first["prompt"]
    assert main(["score", "--input", str(outputs), "--matcher", "lenient", "--output", str(tmp_path / "s")]) == 0
    assert json.loads((tmp_path / "s.scores.json").read_text())["matcher"] == "lenient"


def test_user_errors_exit_2_with_a_message(tmp_path, common, tiny_reasoner, capsys):
    assert main(["reason", *common, "--descriptions", str(tmp_path / "nope.jsonl"),
                 *_reason_args(tiny_reasoner)]) == 2
    assert "nope.jsonl does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"index": "q0", "text": "x"}\n')
    assert main(["reason", *common, "--descriptions", str(bad), *_reason_args(tiny_reasoner)]) == 2
    assert "lacks index/description" in capsys.readouterr().err
    assert main(["end-to-end", *common, "--perception", str(tmp_path / "no_model")]) == 2
    assert "no config.json" in capsys.readouterr().err
