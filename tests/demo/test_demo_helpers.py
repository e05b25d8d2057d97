"""The demo's model builder, reasoner encoding and results table (fast; the full demo is not run here)."""
from __future__ import annotations

import json

import pytest

from llava.constants import IGNORE_INDEX


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


def test_reasoner_encoding_renders_like_llava_eval_and_masks_prompt(demo_tokenizer):
    from llava.demo.train_reasoner import encode_sample
    from llava.prompts import PromptSet

    tok, _ = demo_tokenizer
    user = PromptSet().reasoning_prompt("There are 2 objects.", "How many objects are there?\nOptions: A: 1, "
                                        "B: 2, C: 3, D: 4", thinking=True)
    answer = "<think>\nThere are 2 objects. 2 is B.\n</think>\n\nAnswer: B"
    enc = encode_sample(tok, {"id": "s", "conversations": [{"from": "human", "value": user},
                                                            {"from": "gpt", "value": answer}]})
    # Independent rendering: the chat template with the assistant turn filled in (what a Qwen3
    # chat model sees at inference time followed by the target).
    full = tok.apply_chat_template([{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
                                   tokenize=False, enable_thinking=True)
    assert tok.decode(enc["input_ids"]) == full.rstrip("\n")
    learned = [t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab != IGNORE_INDEX]
    assert tok.decode(learned) == answer + "<|im_end|>"
    assert enc["labels"][: len(enc["labels"]) - len(learned)] == [IGNORE_INDEX] * (len(enc["labels"]) - len(learned))


def test_reasoner_encoding_rejects_wrong_turns(demo_tokenizer):
    from llava.demo.train_reasoner import encode_sample

    tok, _ = demo_tokenizer
    with pytest.raises(ValueError, match="sample 'x'"):
        encode_sample(tok, {"id": "x", "conversations": [{"from": "gpt", "value": "hi"}]})


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
    wrong = gold.replace("A blue star", "A green star")
    (tmp_path / "desc.jsonl").write_text(json.dumps({"index": "0", "description": gold}) + "\n"
                                         + json.dumps({"index": "1", "description": wrong}) + "\n")
    d = results.description_accuracy(tmp_path / "desc.jsonl", tmp_path / "bench.jsonl")
    assert d == {"objects": 0.75, "exact": 0.5, "descriptions": 2}
