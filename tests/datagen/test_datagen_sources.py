"""Reading the dataset list and LLaVA VQA files into one item per image."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llava.datagen.sources import DatagenInputError, collect_items, items_fingerprint, load_dataset_list

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _conv(*pairs):
    turns = []
    for q, a in pairs:
        turns += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return turns


def _dataset(tmp_path: Path, lines: list[str], name: str = "vqa.jsonl", strategy: str | None = None):
    (tmp_path / "imgs").mkdir(exist_ok=True)
    _write(tmp_path / name, "".join(line + "\n" for line in lines))
    extra = f"\n    sampling_strategy: \"{strategy}\"" if strategy else ""
    return _write(tmp_path / "list.yaml", f"datasets:\n  - json_path: {name}\n    image_folder: imgs{extra}\n")


def test_questions_of_one_image_merge_and_bad_records_are_counted(tmp_path):
    lines = [
        json.dumps({"id": "a1", "image": "a.jpg", "conversations": _conv(("<image>\nWhat is it?", "a cat"),
                                                                         ("Which colour?", "black"))}),
        json.dumps({"id": "b1", "image": "b.jpg", "conversations": _conv(("<image>\nIs it big?", "yes"))}),
        json.dumps({"id": "a2", "image": "a.jpg", "conversations": _conv(("What is it?", "a cat"),
                                                                         ("Where is it?\n<image>", "on a mat"))}),
        json.dumps({"id": "t", "conversations": _conv(("Hi", "Hello"))}),
        '{"id": "broken", "image": "c.jpg", "conv',
        json.dumps({"id": "odd", "image": "d.jpg", "conversations": [{"from": "human", "value": "Q?"}]}),
        json.dumps({"id": "multi", "image": ["e.jpg", "f.jpg"], "conversations": _conv(("Q?", "A"))}),
        "",
        json.dumps({"id": "roles", "image": "g.jpg", "conversations": [{"from": "gpt", "value": "A"},
                                                                         {"from": "human", "value": "Q"}]}),
    ]
    specs = load_dataset_list(_dataset(tmp_path, lines))
    items, report = collect_items(specs)

    assert [(i.index, i.image) for i in items] == [(0, "a.jpg"), (1, "b.jpg")]
    assert items[0].qa_pairs == [("What is it?", "a cat"), ("Which colour?", "black"), ("Where is it?", "on a mat")]
    assert items[0].sample_ids == ["a1", "a2"] and items[0].key == "vqa/a.jpg"
    assert items[0].questions == ["What is it?", "Which colour?", "Where is it?"]
    assert report.samples == {"vqa": 6}  # records that pass the trainer's checks (two bad ones do not)
    assert report.skipped_no_image == {"vqa": 1} and report.skipped_multi_image == {"vqa": 1}
    assert report.duplicate_pairs == {"vqa": 1}
    errors = {e["location"].split(" ", 1)[1]: e["error"] for e in report.errors}
    assert report.num_errors == 3
    assert errors["(line 5)"].startswith("malformed_json")  # the undecodable line, by line number
    assert errors["(id odd)"].startswith("empty_conversation")
    assert "expected human then gpt" in errors["(id roles)"]


def test_json_list_input_sampling_and_fingerprint(tmp_path):
    samples = [{"id": str(k), "image": f"{k}.jpg", "conversations": _conv((f"Q{k}?", f"A{k}"))} for k in range(10)]
    _write(tmp_path / "list.json", json.dumps(samples))
    (tmp_path / "imgs").mkdir()
    first = _write(tmp_path / "first.yaml", "datasets:\n  - json_path: list.json\n    image_folder: imgs\n"
                                            "    sampling_strategy: first:30%\n")
    end = _write(tmp_path / "end.yaml", "datasets:\n  - json_path: list.json\n    image_folder: imgs\n"
                                        "    sampling_strategy: end:2\n")
    items, _ = collect_items(load_dataset_list(first))
    assert [i.image for i in items] == ["0.jpg", "1.jpg", "2.jpg"]
    assert [i.image for i in collect_items(load_dataset_list(end))[0]] == ["8.jpg", "9.jpg"]
    again, _ = collect_items(load_dataset_list(first))
    assert items_fingerprint(items) == items_fingerprint(again)
    again[1].qa_pairs[0] = ("Q1?", "changed")
    assert items_fingerprint(items) != items_fingerprint(again)

    def random_pick(seed):  # seeded like the trainer: every shard process picks the same samples
        listing = _write(tmp_path / f"r{seed}.yaml", f"seed: {seed}\ndatasets:\n  - json_path: list.json\n"
                                                     f"    image_folder: imgs\n    sampling_strategy: random:4\n")
        return [i.image for i in collect_items(load_dataset_list(listing))[0]]

    assert random_pick(1) == random_pick(1) and len(random_pick(1)) == 4
    assert random_pick(1) != random_pick(2)


def test_env_variables_and_relative_paths(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _write(data / "v.jsonl", json.dumps({"image": "x.jpg", "conversations": _conv(("Q?", "A"))}) + "\n")
    (data / "img").mkdir()
    monkeypatch.setenv("DATA_ROOT", str(data))
    listing = _write(tmp_path / "cfg" / "l.yaml",
                     "datasets:\n  - name: v\n    json_path: ${DATA_ROOT}/v.jsonl\n    image_folder: ../data/img\n")
    (spec,) = load_dataset_list(listing)
    assert spec.json_path == (data / "v.jsonl").resolve() and spec.image_folder == (data / "img").resolve()

    monkeypatch.delenv("DATA_ROOT")
    with pytest.raises(ValueError, match=r"DATA_ROOT.*not set"):
        load_dataset_list(listing)


@pytest.mark.parametrize("body, message", [
    ("datasets:\n  - json_path: missing.jsonl\n    image_folder: imgs\n", "missing.jsonl does not exist"),
    ("datasets:\n  - json_path: v.jsonl\n    image_folder: nowhere\n", "image folder .*nowhere does not exist"),
    ("datasets:\n  - json_path: v.jsonl\n", "needs an `image_folder`"),
    ("datasets:\n  - json_path: v.jsonl\n    image_folder: imgs\n    sampling_strategy: some\n",
     "sampling_strategy 'some'"),
    ("datasets:\n  - json_path: v.jsonl\n    image_folder: imgs\n    imgae: x\n", "unknown key"),
    ("datasets: [\n", "not valid YAML"),
    ("datasets:\n  - name: a/b\n    json_path: v.jsonl\n    image_folder: imgs\n", "may only use letters"),
    ("other: 1\n", "non-empty `datasets:`"),
])
def test_dataset_list_mistakes_name_the_problem(tmp_path, body, message):
    _write(tmp_path / "v.jsonl", "")
    (tmp_path / "imgs").mkdir()
    with pytest.raises(ValueError, match=message):
        load_dataset_list(_write(tmp_path / "l.yaml", body))


def test_invalid_json_file_is_reported_with_the_fix(tmp_path):
    _write(tmp_path / "v.json", '[{"image": "a.jpg",')
    (tmp_path / "imgs").mkdir()
    specs = load_dataset_list(_write(tmp_path / "l.yaml", "datasets:\n  - json_path: v.json\n    image_folder: imgs\n"))
    with pytest.raises(ValueError, match="not valid JSON"):
        collect_items(specs)


def test_shipped_source_list_loads(tmp_path, monkeypatch):
    """Every dataset-list YAML in data_configs/datagen parses once DATA_ROOT points at the files."""
    configs = sorted((REPO / "data_configs" / "datagen").glob("*.yaml"))
    assert configs
    monkeypatch.setenv("DATA_ROOT", str(tmp_path))
    for config in configs:
        for entry in yaml.safe_load(config.read_text())["datasets"]:
            _write(Path(entry["json_path"].replace("${DATA_ROOT}", str(tmp_path))), "")
            Path(entry["image_folder"].replace("${DATA_ROOT}", str(tmp_path))).mkdir(parents=True, exist_ok=True)
        specs = load_dataset_list(config)
        assert len(specs) == len({s.name for s in specs}) >= 1


def test_cli_reports_user_mistakes_without_a_traceback(tmp_path, capsys):
    from datagen_helpers import run_cli

    assert run_cli("run", "--datasets", tmp_path / "nope.yaml", "--output-dir", tmp_path / "o", "--backend",
                   "scene") == 2
    assert f"dataset list {tmp_path / 'nope.yaml'} does not exist" in capsys.readouterr().err
    assert run_cli("status", "--output-dir", tmp_path / "nothing") == 2
    assert "does not exist; pass the --output-dir of `llava-datagen run`" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli("merge", "--output-dir", tmp_path / "empty") == 2
    assert "has no shard-XXXXX-of-YYYYY folders" in capsys.readouterr().err
    listing = _dataset(tmp_path, [json.dumps({"id": "t", "conversations": _conv(("Hi", "Hello"))})])
    assert run_cli("run", "--datasets", listing, "--output-dir", tmp_path / "o", "--backend", "scene") == 2
    assert "no usable samples" in capsys.readouterr().err
    assert run_cli("run", "--datasets", listing, "--output-dir", tmp_path / "o", "--prompts",
                   tmp_path / "missing.yaml") == 2
    assert "prompt file" in capsys.readouterr().err
