"""A tiny Qwen3-style tokenizer built offline.

Byte-level BPE trained on a small embedded corpus, wrapped in transformers' `Qwen2Tokenizer` (the
class real Qwen3 checkpoints use), with Qwen3's special and added tokens and a Qwen3-style chat
template (system/user/assistant ChatML, `enable_thinking`). Tests and demos use it so nothing is
downloaded; the real code paths (`AutoTokenizer.from_pretrained`, chat templates) stay the same.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from llava import prompts

# Qwen3's reserved tokens, in Qwen3's order (ids 151643.. in the real vocabulary).
QWEN3_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
# Added but not "special" in Qwen3 (they survive `skip_special_tokens=True`).
QWEN3_ADDED_TOKENS = [
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
    "<think>", "</think>",
]

# A Qwen3-compatible chat template: ChatML, string or list-of-parts content, thinking switch.
QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' and add_default_system|default(false) %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for part in message['content'] %}"
    "{%- if part['type'] == 'text' %}{{- part['text'] }}"
    "{%- elif part['type'] == 'image' %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'video' %}{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)

_WORDS = """
the a an of and or in on at to from with without is are was were be been it this that these those
what which who where when why how many much more most less least left right top bottom middle
center centre above below behind front near far next between inside outside image picture photo
scene object objects shape shapes circle square triangle star rectangle red green blue yellow
purple orange black white gray grey brown pink color colour colors one two three four five six
seven eight nine ten zero count number numbers large small big tiny larger smaller bigger same
different text word letter letters option options question questions answer answers description
describe statement statements yes no true false because so therefore thus first second third last
step reasoning think thinking final person people man woman child dog cat car bus tree house sky
water table chair bar chart value values height heights employee employees period maximum minimum
wait waiter waiting hmm but however alternatively alternative another check double-check oh maybe
verify other again now ah anyway anyhow okay let me see consider look user assistant system
helpful you are
"""
_EXTRA = "A B C D E (A) (B) (C) (D) Answer: Question: Hint: Options: 0 1 2 3 4 5 6 7 8 9 10 100 . , ; : ! ? ' \" - ( ) [ ] { } # / \\ * + = < > _ \n\t"


def _corpus() -> list[str]:
    texts = [v for v in prompts.PromptSet().to_dict().values()]
    texts += [q + " " + f for q, f in prompts.FOCUS_EXAMPLES]
    words = _WORDS.split()
    texts += [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    texts += [w.capitalize() for w in words] + [" " + w for w in words] + [_EXTRA]
    return texts * 4


@lru_cache(maxsize=4)
def _trained_bpe(vocab_size: int) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    state = tok.model.__getstate__()
    import json

    model = json.loads(state)
    vocab = tuple(sorted(model["vocab"].items(), key=lambda kv: kv[1]))
    merges = tuple(tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"])
    return vocab, merges


def add_qwen3_tokens(tokenizer, model_max_length: int) -> None:
    """Qwen3's added tokens (in its order, so their relative ids match the real vocabulary), its
    eos/pad tokens and chat template."""
    from tokenizers import AddedToken

    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN3_SPECIAL_TOKENS],
                         special_tokens=True)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN3_ADDED_TOKENS])
    tokenizer.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    tokenizer.model_max_length = model_max_length


def build_tiny_qwen3_tokenizer(save_dir: str | Path | None = None, vocab_size: int = 1024):
    """Return a tiny `Qwen2Tokenizer` with Qwen3's special tokens and a chat template.

    The BPE part has `vocab_size` entries; the 26 Qwen3 special/added tokens follow it. Saved to
    `save_dir` when given, so that `AutoTokenizer.from_pretrained(save_dir)` loads it.
    """
    from transformers import Qwen2Tokenizer

    vocab, merges = _trained_bpe(vocab_size)
    tokenizer = Qwen2Tokenizer(
        vocab=dict(vocab),
        merges=list(merges),
        unk_token=None,
        eos_token=None,
        pad_token=None,
    )
    add_qwen3_tokens(tokenizer, model_max_length=4096)
    if save_dir is not None:
        save_dir = Path(save_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
    return tokenizer
