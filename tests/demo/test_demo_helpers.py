"""The demo's model builder and results table (fast; the full demo is not run here). The reasoner is
trained by `llava-train --text_only True` (tests/train/test_text_only.py)."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def demo_tokenizer(tmp_path_factory):
    from llava.demo.tokenizer import build_demo_tokenizer

    path = tmp_path_factory.mktemp("tok")
    build_demo_tokenizer(path)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path)), path


def test_demo_llm_matches_tokenizer_and_loads(demo_tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llava.demo.models import save_demo_llm, save_demo_siglip

    tok, tok_dir = demo_tokenizer
    save_demo_llm(tmp_path / "llm", tok_dir, hidden_size=32)
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "llm"))
    assert model.config.model_type == "qwen3"
    assert model.config.vocab_size == len(tok)
    assert model.config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert AutoTokenizer.from_pretrained(str(tmp_path / "llm")).get_vocab() == tok.get_vocab()

    save_demo_siglip(tmp_path / "siglip")
    cfg = json.loads((tmp_path / "siglip" / "config.json").read_text())
    assert (cfg["image_size"], cfg["patch_size"]) == (96, 16)


def test_cli_saves_the_reasoner_shape_and_a_one_patch_per_cell_siglip(demo_tokenizer, tmp_path):
    import torch
    from transformers import AutoConfig, SiglipVisionModel

    from llava.demo import models

    tok, tok_dir = demo_tokenizer
    models.main(["--tokenizer", str(tok_dir), "--llm", str(tmp_path / "llm"), "--siglip", str(tmp_path / "siglip"),
                 "--reasoner", str(tmp_path / "reasoner")])
    llm = AutoConfig.from_pretrained(str(tmp_path / "llm"))
    assert (llm.hidden_size, llm.num_hidden_layers, llm.intermediate_size) == (128, 3, 256)  # the CLI defaults
    reasoner = AutoConfig.from_pretrained(str(tmp_path / "reasoner"))
    # REASONER_SHAPE: hidden 64, 3 layers, 4 heads, feed-forward 4 x 64.
    assert (reasoner.model_type, reasoner.hidden_size, reasoner.num_hidden_layers, reasoner.num_attention_heads,
            reasoner.num_key_value_heads, reasoner.head_dim, reasoner.intermediate_size) == \
        ("qwen3", 64, 3, 4, 4, 16, 256)
    assert reasoner.vocab_size == len(tok) and reasoner.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert (tmp_path / "reasoner" / "tokenizer.json").is_file()

    tower = SiglipVisionModel.from_pretrained(str(tmp_path / "siglip"))
    assert (tower.config.image_size, tower.config.patch_size) == (96, 16)
    assert 2 * models.DEMO_PATCH_SIZE * models.world.GRID == models.world.IMAGE_SIZE
    with torch.no_grad():
        out = tower(pixel_values=torch.zeros(1, 3, 96, 96))
    assert out.last_hidden_state.shape[1] == 36  # 6x6 patches of 16 px: 2x2 per 32 px grid cell


def test_results_table_reads_per_type_accuracy(tmp_path):
    from llava.demo import results, world

    l2 = {f"{c} / {l}": 25.0 for c, l in world.QUESTION_TYPES.values()}
    l2["math / geometry"] = 90.0
    for name, avg in (("a", 30.0), ("b", 70.0)):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "x.scores.json").write_text(json.dumps(
            {"average": avg, "l2_categories": l2, "num_questions": 140}))
    systems = {n: results.find_scores(tmp_path / n) for n in ("a", "b")}
    table = results.results_table(systems).splitlines()
    assert table[0].split("|")[3].strip() == "color" and "shape" in table[0]
    assert table[2].startswith("| a | 30% | 25% | 90% |")
    assert not results.targets_met(systems["b"])  # 25% types are at chance
    l2_good = {k: 61.0 for k in l2}
    assert results.targets_met({"average": 61.0, "l2_categories": l2_good})  # percentages, as the scorer writes
    with pytest.raises(SystemExit, match="expected one"):
        results.find_scores(tmp_path)  # two scores files below


def test_description_accuracy_counts_fully_right_objects(tmp_path):
    from llava.demo import results, world

    scene = world.Scene("s", [world.Obj("circle", "red", 0, 0), world.Obj("star", "blue", 2, 2)])
    gold = world.describe(scene)
    (tmp_path / "bench.jsonl").write_text(
        json.dumps({"index": 0, "description": gold, "graph": scene.to_dict()}) + "\n"
        + json.dumps({"index": 1, "description": gold, "graph": scene.to_dict()}) + "\n")
    # Hand-computed: item 0 exact (2/2 objects), item 1 has the star's colour wrong (1/2).
    assert "bottom right: blue star bottom right." in gold and "top left: red circle top left;" in gold
    wrong = gold.replace("bottom right: blue star", "bottom right: green star")
    (tmp_path / "desc.jsonl").write_text(json.dumps({"index": "0", "description": gold}) + "\n"
                                         + json.dumps({"index": "1", "description": wrong}) + "\n")
    d = results.description_accuracy(tmp_path / "desc.jsonl", tmp_path / "bench.jsonl")
    assert d == {"objects": 0.75, "exact": 0.5, "descriptions": 2}


def test_statement_accuracy_reads_the_last_sentence_per_type(tmp_path):
    from llava.demo import results

    rows = [{"index": 0, "question_type": "color", "statement": "The color of the star is red."},
            {"index": 1, "question_type": "color", "statement": "The color of the circle is blue."},
            {"index": 2, "question_type": "text", "statement": "The word written in the image is cat."}]
    (tmp_path / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    outputs = [{"index": "0", "description": "top left: red star; ... The color of the star is red."},
               {"index": "1", "description": "The color of the circle is red."},  # wrong answer
               {"index": "2", "description": "The word written in the image is cat. Extra."},  # not last
               {"index": "9", "description": "not a benchmark question"}]
    (tmp_path / "ext.jsonl").write_text("".join(json.dumps(r) + "\n" for r in outputs))
    st = results.statement_accuracy(tmp_path / "ext.jsonl", tmp_path / "bench.jsonl")
    assert st == {"overall": 1 / 3, "per_type": {"color": 0.5, "text": 0.0}, "extractions": 3}


def test_oracle_extractions_are_the_ground_truth_extraction(tmp_path):
    from llava.demo import world
    from llava.demo.build import WorldConfig, build_world

    build_world(tmp_path, WorldConfig(train_images=4, per_type=1, reasoner_samples=2), progress=False)
    bench = [json.loads(line) for line in (tmp_path / "benchmark.jsonl").read_text().splitlines()]
    oracle = {r["index"]: r["description"] for r in
              map(json.loads, (tmp_path / "oracle_extractions.jsonl").read_text().splitlines())}
    assert len(oracle) == len(bench) == len(world.QUESTION_TYPES)
    for row in bench:
        text = oracle[str(row["index"])]
        assert text == row["description"] + " " + row["statement"]
