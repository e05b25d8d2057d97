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


def _meta(res):
    metas = sorted(res.rglob("*.jsonl.meta.json"))
    return [json.loads(p.read_text()) for p in metas if "reasoning" in p.parts]


def test_protocol_is_announced_recorded_and_overridable(tmp_path, common, tiny_reasoner, capsys):
    log = tmp_path / "samples.jsonl"
    log.write_text("".join(json.dumps({"doc_id": i, "filtered_resps": f"Shape {i}."}) + "\n" for i in range(6)))
    base = ["reason", *common, "--descriptions", str(log), *_reason_args(tiny_reasoner)]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "[reason] protocol paper" in out and "derived from 18 words" in out
    (paper,) = _meta(tmp_path / "res")
    assert paper["blocked"]["source"] == "derived" and paper["blocked"]["count"] == 28
    assert paper["protocol"]["boost"] == "think-end-logit" and paper["reasoner_signature"].startswith("sha256:")
    assert main(base + ["--protocol", "improved"]) == 0
    assert "[reason] protocol improved" in capsys.readouterr().out
    improved = next(m for m in _meta(tmp_path / "res") if m["protocol"]["name"] == "improved")
    assert improved["blocked"]["source"] == "exact-words" and improved["protocol"]["block_after_think"] is False
    assert main(base + ["--boost", "own-logit"]) == 0
    assert "[reason] protocol paper+custom" in capsys.readouterr().out
    assert len(_meta(tmp_path / "res")) == 3
    assert main(base + ["--answer-line", "stripped"]) == 0     # scoring only: the outputs are reused
    assert len(_meta(tmp_path / "res")) == 3
    scores = sorted((tmp_path / "res").rglob("*-paper-*.scores.json"))
    assert json.loads(scores[0].read_text())["answer_line"] == "stripped"


def test_lmms_eval_task_folder_with_the_focus_stage(tmp_path, tiny_reasoner, capsys):
    import datasets
    import yaml

    rows = {"index": [5, 6], "question": ["What colour?\nOptions: A: red, B: blue"] * 2, "answer": ["A", "B"],
            "category": ["math"] * 2, "l2_category": ["geometry"] * 2, "image": [None, None]}
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "mm.parquet"))
    assert main(["lmms-eval-tasks", "--output-dir", str(tmp_path / "t"), "--data", str(tmp_path / "mm.parquet"),
                 "--focus-model", str(tiny_reasoner), "--results-dir", str(tmp_path / "res"),
                 "--device", "cpu", "--dtype", "fp32"]) == 0
    assert "mmstar_prism_stage_1, mmstar_prism_stage_2" in capsys.readouterr().out
    settings = json.loads((tmp_path / "t" / "prism_mmstar.json").read_text())
    focus_run = next((tmp_path / "res").rglob("focus/*.jsonl"))             # the project's focus stage ran
    rows = [json.loads(line) for line in focus_run.read_text().splitlines()]
    assert settings["focus"] == {r["index"]: r["focus"] for r in rows}
    assert set(settings["focus"]) == {"5", "6"} and settings["answer_line"] == "raw"

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))
    stage_2 = yaml.load((tmp_path / "t" / "mmstar_prism_stage_2.yaml").read_text(), Loader=Loader)
    assert stage_2["task"] == "mmstar_prism_stage_2" and stage_2["test_split"] == "val"
    assert stage_2["dataset_path"] == "parquet" and stage_2["reasoning_tags"] == "none"
    assert stage_2["dataset_kwargs"]["data_files"]["val"] == [str((tmp_path / "mm.parquet").resolve())]
    assert [m["metric"] for m in stage_2["metric_list"]][-1] == "average"
    assert main(["lmms-eval-tasks", "--output-dir", str(tmp_path / "hub"), "--data", str(tmp_path / "mm.parquet"),
                 "--focus-file", str(tmp_path / "missing.json")]) == 2
    assert "focus file" in capsys.readouterr().err
