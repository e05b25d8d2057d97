"""The word-level tokenizer: one token per word, exact round trips, Qwen3 specials, ChatML."""
from __future__ import annotations

import pytest

from llava.demo import world
from llava.demo.tokenizer import build_demo_tokenizer, demo_corpus
from llava.prompts import PromptSet
from llava.tiny.word_tokenizer import build_word_tokenizer


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return build_demo_tokenizer(tmp_path_factory.mktemp("tok"))


def test_round_trip_and_no_unknowns_on_demo_text(tok):
    items = world.benchmark_items(123, 4)
    texts = [PromptSet().reasoning_prompt(world.describe(i.scene), i.mmstar_question, thinking=True) for i in items]
    texts += [world.extraction_description(i.scene, [i.question.statement]) + "\n" + i.thinking() for i in items]
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids, tok.convert_ids_to_tokens(ids)
        assert tok.decode(ids) == text


def test_one_token_per_word(tok):
    for word in [*world.COLORS, *world.SHAPES, *world.WORDS, *world.RELATIONS]:
        assert len(tok(" " + word, add_special_tokens=False)["input_ids"]) == 1, word
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word
    ids = tok("A red circle at the top left.", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["A", "\u0120red", "\u0120circle", "\u0120at", "\u0120the",
                                              "\u0120top", "\u0120left", "."]


def test_special_tokens_and_chat_template(tok, tmp_path):
    for t in ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<image>"]:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids) == [t]
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = tok.apply_chat_template([{"role": "user", "content": "What color is the circle?"}], tokenize=False,
                                   add_generation_prompt=True, enable_thinking=False)
    assert text == ("<|im_start|>user\nWhat color is the circle?<|im_end|>\n<|im_start|>assistant\n"
                    "<think>\n\n</think>\n\n")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == text
    # `<think>` survives skip_special_tokens like in Qwen3; the control tokens do not.
    assert tok.decode(ids, skip_special_tokens=True).startswith("user\n")


def test_reload_and_determinism(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "<|im_start|>user\nWhere is the star?<|im_end|>"
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again.chat_template == tok.chat_template
    assert build_demo_tokenizer().get_vocab() == tok.get_vocab()


def test_unknown_words_become_unk():
    tok = build_word_tokenizer(["a red circle"])
    ids = tok("a zebra", add_special_tokens=False)["input_ids"]
    assert ids[1] == tok.unk_token_id


def test_corpus_covers_paper_prompts():
    corpus = demo_corpus(samples_per_type=1)
    assert PromptSet().reasoning_suffix_thinking in corpus
