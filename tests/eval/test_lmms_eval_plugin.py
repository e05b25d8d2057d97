"""The paper's two lmms-eval commands, run with real lmms-eval (PyPI) on this package's tiny models.

Stage 1 is lmms-eval's stock ``llava_onevision`` on the tiny perception checkpoint, stage 2 the
plugin's ``qwen3`` reasoner (entry point ``lmms_eval.models``), both on an MMStar-layout parquet the
test writes and the task folder ``llava-eval lmms-eval-tasks`` writes. Checked: every question is
answered and scored, the scores are lmms-eval's own MMStar scoring of the authors' parse, and the
reasoner's outputs equal ``llava-eval reason`` on the same stage-1 samples.
"""
import io
import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

pytest.importorskip("lmms_eval", reason="lmms-eval is installed by scripts/test.sh (pip install --no-deps)")

from llava.eval.cli import main  # noqa: E402
from llava.eval.scoring import extract_answer, match_lmms_eval_v07  # noqa: E402
from llava.prompts import PromptSet  # noqa: E402

pytestmark = pytest.mark.slow

ROWS = [  # (category, l2_category, answer)
    ("coarse perception", "image scene and topic", "A"), ("coarse perception", "image emotion", "B"),
    ("math", "geometry", "C"), ("math", "geometry", "D"), ("instance reasoning", "single-instance reasoning", "A"),
]
REASONER_ARGS = {"budget": 12, "max_new_tokens": 20, "batch_size": 2}


def _png(i):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40 + 9 * i, 30 + 7 * i), (50 * i, 200 - 30 * i, 90)).save(buf, format="PNG")
    return buf.getvalue()


def _mmstar_parquet(path):
    import datasets

    ds = datasets.Dataset.from_dict({
        "index": [700 + i for i in range(len(ROWS))],
        "question": [f"What is shown in picture {i}?\nOptions: A: a cat, B: a dog, C: a car, D: a tree"
                     for i in range(len(ROWS))],
        "image": [{"bytes": _png(i), "path": None} for i in range(len(ROWS))],
        "answer": [r[2] for r in ROWS], "category": [r[0] for r in ROWS], "l2_category": [r[1] for r in ROWS],
    }).cast_column("image", datasets.Image())
    ds.to_parquet(str(path))
    return path


def _lmms_eval(args, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", WANDB_MODE="offline",
               HF_DATASETS_CACHE=str(tmp_path / "hf_datasets"), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _samples(folder, task):
    found = sorted(folder.rglob(f"*_samples_{task}.jsonl"))
    assert len(found) == 1, found
    return found[0], [json.loads(line) for line in found[0].read_text().splitlines()]


def test_paper_commands_through_the_plugin(tmp_path, tiny_perception, tiny_reasoner):
    data = _mmstar_parquet(tmp_path / "mmstar.parquet")
    focus = {str(700 + i): ("the animal in the picture" if i != 3 else "") for i in range(len(ROWS))}
    (tmp_path / "focus.json").write_text(json.dumps(focus))
    tasks = tmp_path / "tasks"
    assert main(["lmms-eval-tasks", "--output-dir", str(tasks), "--data", str(data),
                 "--focus-file", str(tmp_path / "focus.json")]) == 0

    # Stage 1, the authors' command (+ --include_path; on CPU device=cpu, short outputs for the test)
    _lmms_eval(["--model", "llava_onevision", "--model_args",
                f"pretrained={tiny_perception[0]},conv_template=qwen_1_5,device_map=auto,device=cpu",
                "--tasks", "mmstar_prism_stage_1", "--batch_size", "1", "--output_path", str(tmp_path / "s1"),
                "--log_samples", "--include_path", str(tasks), "--gen_kwargs", "max_new_tokens=16"], tmp_path)
    stage_1, samples_1 = _samples(tmp_path / "s1", "mmstar_prism_stage_1")
    assert [s["doc_id"] for s in samples_1] == list(range(len(ROWS)))
    prompts = PromptSet()
    for s in samples_1:
        f = focus[str(700 + s["doc_id"])]
        assert s["input"] == (prompts.extraction_instruction(f) if f else prompts.caption_prompt)
        assert isinstance(s["filtered_resps"], str) and s["filtered_resps"]

    # Stage 2, the authors' command with the plugin's qwen3 model, greedy, batch size 2
    model_args = (f"pretrained=0.6B;{tiny_reasoner};True,stage_1_path={stage_1},greedy=True,"
                  f"budget={REASONER_ARGS['budget']},max_new_tokens={REASONER_ARGS['max_new_tokens']}")
    _lmms_eval(["--model", "qwen3", "--model_args", model_args, "--tasks", "mmstar_prism_stage_2",
                "--batch_size", str(REASONER_ARGS["batch_size"]), "--output_path", str(tmp_path / "s2"),
                "--log_samples", "--include_path", str(tasks)], tmp_path)
    _, samples_2 = _samples(tmp_path / "s2", "mmstar_prism_stage_2")
    assert sorted(s["doc_id"] for s in samples_2) == list(range(len(ROWS)))
    by_l2 = defaultdict(list)
    for s in samples_2:
        category, l2, gold = ROWS[s["doc_id"]]
        raw = s["filtered_resps"]
        raw = raw[0] if isinstance(raw, list) else raw
        assert "</think>" in raw                             # the budget closed the thinking
        expected = float(match_lmms_eval_v07(extract_answer(raw), gold))
        assert s["average"]["score"] == s[category]["score"] == expected
        assert s["average"]["l2_category"] == l2 and s["average"]["question_id"] == 700 + s["doc_id"]
        by_l2[l2].append(expected)
    results = json.loads(next((tmp_path / "s2").rglob("*_results.json")).read_text())
    average = results["results"]["mmstar_prism_stage_2"]["average,none"]
    assert average == pytest.approx(sum(sum(v) / len(v) for v in by_l2.values()) / len(by_l2))

    # The same stage-1 samples through llava-eval reason: the same text for every question
    assert main(["reason", "--benchmark", "mmstar", "--data", str(data), "--descriptions", str(stage_1),
                 "--reasoner", str(tiny_reasoner), "--greedy", "--budget", str(REASONER_ARGS["budget"]),
                 "--max-new-tokens", str(REASONER_ARGS["max_new_tokens"]), "--batch-size",
                 str(REASONER_ARGS["batch_size"]), "--device", "cpu", "--dtype", "auto",
                 "--results-dir", str(tmp_path / "res")]) == 0
    ours = next(p for p in (tmp_path / "res").rglob("*.jsonl") if "reasoning" in p.parts)
    outputs = {json.loads(line)["index"]: json.loads(line)["output"] for line in ours.read_text().splitlines()}
    plugin = {str(700 + s["doc_id"]): (s["filtered_resps"][0] if isinstance(s["filtered_resps"], list)
                                       else s["filtered_resps"]) for s in samples_2}
    assert outputs == plugin


def test_vmcbench_stage_2_uses_lmms_evals_vmcbench_scoring(tmp_path, tiny_reasoner):
    import datasets

    cats = ["MMStar", "MMMU", "TextVQA"]
    datasets.Dataset.from_dict({
        "index": [10, 11, 12], "question": ["Which animal?", "Which number?", "Which word?"],
        "A": ["cat", "1", "stop"], "B": ["dog", "2", "go"], "C": ["cow", "3", "wait"], "D": ["owl", "4", "yes"],
        "answer": ["A", "B", "C"], "category": cats,
        "image": [{"bytes": _png(i), "path": None} for i in range(3)],
    }).cast_column("image", datasets.Image()).to_parquet(str(tmp_path / "vmc.parquet"))
    (tmp_path / "focus.json").write_text(json.dumps({"10": "the animal", "11": "the digits", "12": "the text"}))
    tasks = tmp_path / "tasks"
    assert main(["lmms-eval-tasks", "--benchmark", "vmcbench", "--output-dir", str(tasks), "--data",
                 str(tmp_path / "vmc.parquet"), "--split", "dev", "--focus-file", str(tmp_path / "focus.json")]) == 0
    stage_1 = tmp_path / "stage_1.jsonl"            # the shape lmms-eval 0.7 logs (plain-string responses)
    stage_1.write_text("".join(json.dumps({"doc_id": i, "filtered_resps": f"A picture of thing {i}."}) + "\n"
                               for i in range(3)))
    _lmms_eval(["--model", "qwen3", "--model_args",
                f"pretrained=0.6B;{tiny_reasoner};True,stage_1_path={stage_1},greedy=True,budget=8,max_new_tokens=12",
                "--tasks", "vmcbench_prism_stage_2", "--batch_size", "3", "--output_path", str(tmp_path / "s2"),
                "--log_samples", "--include_path", str(tasks)], tmp_path)
    _, samples = _samples(tmp_path / "s2", "vmcbench_prism_stage_2")
    assert sorted(s["doc_id"] for s in samples) == [0, 1, 2]
    for s in samples:
        assert s["input"].endswith("Options: A: " + ["cat", "1", "stop"][s["doc_id"]] + ", B: "
                                   + ["dog", "2", "go"][s["doc_id"]] + ", C: " + ["cow", "3", "wait"][s["doc_id"]]
                                   + ", D: " + ["owl", "4", "yes"][s["doc_id"]])
        assert s["average"]["score"] in (0, 1) and s["average"]["category"] == cats[s["doc_id"]]
