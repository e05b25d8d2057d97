"""Benchmark loading: MMStar and VMCBench local copies, the generic JSONL format, errors."""
import json

import pytest
from PIL import Image

from llava.eval.benchmarks import load_benchmark


def _img(color):
    return Image.new("RGB", (24, 16), color)


def test_mmstar_parquet_copy(tmp_path):
    import datasets

    rows = {"index": [10, 11], "question": ["Which colour?\nOptions: A: red, B: blue", "Q2\nOptions: A: x, B: y"],
            "answer": ["A", "B"], "category": ["coarse perception"] * 2,
            "l2_category": ["image scene and topic", "image emotion"], "image": [_img("red"), _img("blue")]}
    ds = datasets.Dataset.from_dict(rows, features=datasets.Features({
        "index": datasets.Value("int64"), "question": datasets.Value("string"),
        "answer": datasets.Value("string"), "category": datasets.Value("string"),
        "l2_category": datasets.Value("string"), "image": datasets.Image()}))
    ds.to_parquet(tmp_path / "val.parquet")
    bench = load_benchmark("mmstar", str(tmp_path / "val.parquet"))
    q = bench.questions[1]
    assert (q.index, q.answer, q.position, q.l2_category) == ("11", "B", 1, "image emotion")
    assert q.question == rows["question"][1]
    assert q.load_image().getpixel((0, 0)) == (0, 0, 255)
    ds.save_to_disk(str(tmp_path / "saved"))                  # a save_to_disk folder works too
    assert len(load_benchmark("mmstar", str(tmp_path / "saved")).questions) == 2


def test_mmstar_missing_field_names_the_record(tmp_path):
    (tmp_path / "m.jsonl").write_text(json.dumps({"index": 5, "question": "Q", "answer": "A",
                                                  "category": "math"}) + "\n")
    with pytest.raises(KeyError, match=r"MMStar record 5 .*l2_category"):
        load_benchmark("mmstar", str(tmp_path / "m.jsonl"))


def test_vmcbench_builds_options(tmp_path):
    row = {"index": 0, "question": "What is shown?", "A": "a cat", "B": "a dog", "C": "a car", "D": "a bus",
           "answer": "C", "category": "SEEDBench"}
    (tmp_path / "v.json").write_text(json.dumps([row, dict(row, index=1, category="MMBench")]))
    bench = load_benchmark("vmcbench", str(tmp_path / "v.json"), categories=["SEEDBench"])
    assert len(bench.questions) == 1
    q = bench.questions[0]
    assert q.question == "What is shown?\nOptions: A: a cat, B: a dog, C: a car, D: a bus"
    assert q.l2_category == q.category == "SEEDBench"


def test_generic_jsonl(tmp_path):
    (tmp_path / "imgs").mkdir()
    _img("green").save(tmp_path / "imgs" / "g.png")
    lines = [{"question": "Colour?", "options": ["red", "green"], "answer": "B", "image": "imgs/g.png"},
             {"index": "x", "question": "Shape?\nOptions: A: o, B: x", "answer": "A", "category": "shape"}]
    (tmp_path / "my.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    bench = load_benchmark("jsonl", str(tmp_path / "my.jsonl"))
    q0, q1 = bench.questions
    assert bench.name == "my"
    assert (q0.index, q0.question, q0.category, q0.l2_category) == ("0", "Colour?\nOptions: A: red, B: green", "all", "all")
    assert q0.load_image().getpixel((1, 1)) == (0, 128, 0)
    assert q1.category == "shape" and q1.question.endswith("B: x")
    with pytest.raises(ValueError, match="question x has no image"):
        q1.load_image()


def test_generic_errors(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"question": "Q"}\n')
    with pytest.raises(KeyError, match=r"record 0 \(line 1\) lacks .*answer"):
        load_benchmark("jsonl", str(tmp_path / "bad.jsonl"))
    (tmp_path / "dup.jsonl").write_text('{"index": 1, "question": "Q", "answer": "A"}\n' * 2)
    with pytest.raises(ValueError, match="index 1 appears twice"):
        load_benchmark("jsonl", str(tmp_path / "dup.jsonl"))
    (tmp_path / "broken.jsonl").write_text('{"index": 1, "question": "Q", "answer": "A"}\n{oops\n')
    with pytest.raises(ValueError, match="line 2"):
        load_benchmark("jsonl", str(tmp_path / "broken.jsonl"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_benchmark("jsonl", str(tmp_path / "missing.jsonl"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_benchmark("mmstar", str(tmp_path / "nowhere.parquet"))
