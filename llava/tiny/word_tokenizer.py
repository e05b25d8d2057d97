"""A word-level tokenizer with Qwen3's special tokens, built offline from a corpus.

Tiny models learn a closed synthetic language far faster when every word is one token: a fact
like "the circle is red" is then three lookups instead of a dozen byte-pair pieces. Words keep
their leading space (GPT-2 style byte-level symbols), so ``decode(encode(text)) == text`` for any
text made of corpus words, and the chat template, ``<think>``/``</think>`` and ``<|im_end|>`` work
exactly as with the real Qwen3 tokenizer. Unknown words become ``<unk>``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from llava.tiny.tokenizer import QWEN3_ADDED_TOKENS, QWEN3_CHAT_TEMPLATE, QWEN3_SPECIAL_TOKENS

# A word with its leading space, one digit, one punctuation mark (with its leading space), or a
# single whitespace character (so "\n\n" is two tokens and indentation survives).
SPLIT_PATTERN = r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]|\s"
UNK_TOKEN = "<unk>"
# LLaVA's image placeholder; the perception model shares this tokenizer.
EXTRA_SPECIAL_TOKENS = ["<image>", "<video>"]
# Role names and the default system prompt of the chat template.
CHAT_WORDS = ("system", "user", "assistant", "You are a helpful assistant.")
SPACE, NEWLINE = "\u0120", "\u010a"  # byte-level symbols of " " and "\n"


def _pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def corpus_words(texts: Iterable[str]) -> list[str]:
    """The sorted set of word-level tokens in ``texts`` (byte-level symbols, leading space kept)."""
    pre = _pre_tokenizer()
    words: set[str] = set()
    for text in list(texts) + list(CHAT_WORDS):
        for piece, _ in pre.pre_tokenize_str(text):
            # Each word in both forms (after a space, and at a line start or after punctuation), so
            # a word seen in one place of the corpus is not unknown in another.
            bare = piece[1:] if piece.startswith(SPACE) else piece
            words.add(bare)
            if bare.strip() and not bare.startswith(NEWLINE):
                words.add(SPACE + bare)
    return sorted(words)


def build_word_tokenizer(texts: Iterable[str], save_dir: str | Path | None = None,
                         model_max_length: int = 2048, phrases: Iterable[str] = ()):
    """A ``PreTrainedTokenizerFast`` whose vocabulary is every word of ``texts``.

    Ids: ``<unk>`` 0, corpus words 1..N (sorted, so the same corpus always gives the same ids),
    then Qwen3's special tokens, Qwen3's added tokens (``<think>``...) and ``<image>``/``<video>``.
    ``phrases`` (e.g. ``"top left"``) become single tokens, with and without a leading space: a
    multi-word answer is then one token, like every other answer a tiny model looks up.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {UNK_TOKEN: 0}
    for word in corpus_words(texts):
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    specials = QWEN3_SPECIAL_TOKENS + EXTRA_SPECIAL_TOKENS + [UNK_TOKEN]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN3_ADDED_TOKENS])
    tok.add_tokens([AddedToken(form, special=False, normalized=False)
                    for phrase in phrases for form in (" " + phrase, phrase)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token=UNK_TOKEN, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        model_max_length=model_max_length,
    )
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    if save_dir is not None:
        save_dir = Path(save_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
    return tokenizer
