from transformers import AutoTokenizer

from llava.tiny.tokenizer import QWEN3_ADDED_TOKENS, QWEN3_SPECIAL_TOKENS, build_tiny_qwen3_tokenizer


def test_tiny_tokenizer_roundtrip_and_special_tokens(tmp_path):
    build_tiny_qwen3_tokenizer(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ids = tok.convert_tokens_to_ids(QWEN3_SPECIAL_TOKENS + QWEN3_ADDED_TOKENS)
    # Qwen3's reserved tokens keep their relative order, right after the BPE vocabulary.
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = "<|im_start|>user\nIs the waiter red?<|im_end|>\n<think>\nhmm\n</think>\n\nAnswer: A"
    enc = tok(text).input_ids
    assert tok.decode(enc) == text
    assert tok.convert_tokens_to_ids("<think>") in enc  # a single token, never split


def test_tiny_chat_template_thinking_switch():
    tok = build_tiny_qwen3_tokenizer()
    msgs = [{"role": "user", "content": "Hi"}]
    off = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    on = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=True)
    assert on == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert off == on + "<think>\n\n</think>\n\n"
