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


def _world_texts() -> list[str]:
    """Every kind of text the demo writes, on items the tokenizer corpus never saw (other seeds)."""
    from llava.demo.build import REASONER_PROMPTS, thinking_target
    from llava.prompts import load_prompt_overrides

    demo, paper = load_prompt_overrides(REASONER_PROMPTS), PromptSet()
    texts = list(paper.to_dict().values())
    for item in world.benchmark_items(123, 8) + world.benchmark_items(321, 4, text_prob=1.0):
        q = item.question
        extraction = world.extraction_description(item.scene, [q.statement])
        texts += [world.describe(item.scene), extraction, item.mmstar_question, q.statement, q.focus,
                  item.thinking(), thinking_target(item),
                  demo.reasoning_prompt(extraction, item.mmstar_question, thinking=True),
                  paper.reasoning_prompt(world.describe(item.scene), item.mmstar_question, thinking=True),
                  paper.extraction_instruction(q.focus), paper.focus_prompt(q.text),
                  paper.statement_prompt([(q.text, q.answer)])]
    return texts


def test_round_trip_and_no_unknowns_on_demo_text(tok):
    for text in _world_texts():
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids, (text, tok.convert_ids_to_tokens(ids))
        assert tok.decode(ids) == text


def test_mc_vqa_prompts_have_no_unknown_words(tok):
    """The end-to-end baseline's training prompt (vqa_mc.json): MMStar question + lmms-eval's post-prompt."""
    from llava.demo.build import mc_vqa_sample
    from llava.eval.perception import DIRECT_ANSWER_SUFFIX

    for item in world.benchmark_items(123, 2):
        sample = mc_vqa_sample(item, "x.png", "x")
        text = sample["conversations"][0]["value"]
        assert text.endswith(DIRECT_ANSWER_SUFFIX)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        unknown = [w for w in text.replace("<image>", "").split() if tok.unk_token_id in tok(" " + w)["input_ids"]]
        assert tok.unk_token_id not in ids, f"unknown words {unknown} in {text!r}"
        assert tok.decode(ids) == text
        assert tok.convert_ids_to_tokens(tok(sample["conversations"][1]["value"])["input_ids"]) == [item.letter]


def test_one_token_per_word(tok):
    for word in [*world.COLORS, *world.SHAPES, *world.WORDS, *world.RELATIONS, *"012345", "yes", "no"]:
        assert len(tok(" " + word, add_special_tokens=False)["input_ids"]) == 1, word
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word
    ids = tok("A red circle at the top left.", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["A", "\u0120red", "\u0120circle", "\u0120at", "\u0120the",
                                              " top left", "."]


def test_each_position_is_one_token(tok):
    assert len(world.POSITIONS) == 9
    ids = {}
    for position in world.POSITIONS:
        tokens = tok.tokenize(" at the " + position + ".")
        assert tokens == ["\u0120at", "\u0120the", " " + position, "."], tokens
        ids[position] = tok.convert_tokens_to_ids(" " + position)
        # At a line start (no leading space) it is one token too, and decodes back exactly.
        line = tok("fact: " + position + "\n" + position, add_special_tokens=False)["input_ids"]
        assert tok.convert_ids_to_tokens(line) == ["fact", ":", " " + position, "\u010a", position]
        assert tok.decode(line) == "fact: " + position + "\n" + position
    assert len(set(ids.values())) == 9 and tok.unk_token_id not in ids.values()
    assert tok.tokenize("Options: A: top left, B: middle center") == [
        "Options", ":", "\u0120A", ":", " top left", ",", "\u0120B", ":", " middle center"]
    # The rows and columns alone stay words (relation answers, "left of", ...).
    assert tok.tokenize(" is left.") == ["\u0120is", "\u0120left", "."]
    assert tok.tokenize(" top") == ["\u0120top"]


def test_phrases_are_single_tokens_in_a_plain_word_tokenizer():
    plain = build_word_tokenizer(["a big red ball\nred ball"])
    phrased = build_word_tokenizer(["a big red ball\nred ball"], phrases=["red ball"])
    text = "a big red ball\nred ball"
    assert len(plain(text, add_special_tokens=False)["input_ids"]) == 7
    ids = phrased(text, add_special_tokens=False)["input_ids"]
    assert phrased.convert_ids_to_tokens(ids) == ["a", "\u0120big", " red ball", "\u010a", "red ball"]
    assert phrased.decode(ids) == text and phrased.unk_token_id not in ids


def test_reasoner_trace_lines_align_with_the_options(tok):
    """What the tiny reasoner relies on: in the chat-rendered demo prompt + target, every trace line
    (letter, option, fact, verdict) is 4 tokens, and trace line k's option token sits a constant
    distance after option k's token in the question, so copying an option is a fixed look back."""
    from llava.demo.build import REASONER_PROMPTS, thinking_target
    from llava.eval.text_generation import chat_prompt
    from llava.prompts import load_prompt_overrides

    prompts = load_prompt_overrides(REASONER_PROMPTS)
    distances = set()
    for item in world.benchmark_items(77, 4):
        description = world.extraction_description(item.scene, [item.question.statement])
        user = prompts.reasoning_prompt(description, item.mmstar_question, thinking=True)
        ids = tok(chat_prompt(tok, user, enable_thinking=True) + thinking_target(item),
                  add_special_tokens=False)["input_ids"]
        tokens = tok.convert_ids_to_tokens(ids)
        assert tok.unk_token_id not in ids
        fact = " " + item.question.answer
        # The question's options: "Options", ":", then per option [letter, ":", option, "," | <|im_end|>].
        o = tokens.index("Options")
        question_opts = []
        for k, (letter, option) in enumerate(zip(world.LETTERS, item.options)):
            at = o + 2 + 4 * k
            assert tokens[at: at + 4] == ["\u0120" + letter, ":", " " + option if " " in option else
                                          "\u0120" + option, "," if k < 3 else "<|im_end|>"], tokens[at: at + 4]
            question_opts.append(at + 2)
        # The trace: "<think>", "\n", "fact", ":", FACT, "\n", then 4 lines of 4 tokens each.
        t = tokens.index("<think>")
        (fact_token,) = tok.tokenize(fact)  # every answer is one token
        assert tokens[t + 1: t + 5] == ["\u010a", "fact", ":", fact_token]
        assert tokens[t + 5] == "\u010a"
        trace_opts = []
        for k, (letter, option) in enumerate(zip(world.LETTERS, item.options)):
            line = ids[t + 6 + 4 * k: t + 10 + 4 * k]
            verdict = "yes" if letter == item.letter else "no"
            assert tok.decode(line) == f" {letter} {option}{fact} {verdict}"
            assert [tok.decode([i]) for i in line] == [" " + letter, " " + option, fact, " " + verdict]
            assert line[1] == ids[question_opts[k]]  # the same token as the option in the question
            trace_opts.append(t + 6 + 4 * k + 1)
        assert tokens[t + 22] == "\u010a" and tokens[t + 23] == "</think>"
        distances |= {b - a for a, b in zip(question_opts, trace_opts)}
    assert len(distances) == 1, distances  # the same look-back distance for every option and every item


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
