"""Which token ids the stage-2 reasoner may never generate (reflexive words: wait, hmm, ...).

Three ways to choose them (``--blocked-set``; docs/evaluation.md measures each on Qwen3):

- ``paper-list``: the authors' fixed list of 189 Qwen3 ids (``data/qwen3_reflexive_token_ids.json``),
  valid only for Qwen3's vocabulary -- checked by decoding every listed id;
- ``derived``: a rule over the whole vocabulary that also catches the affixed forms the authors'
  list holds (``-check``, ``.But``, ``\\twait``, `` checked``, ``waitFor``); see :func:`is_reflexive`;
- ``exact-words``: tokens whose text minus leading spaces, case-folded, is one of the words.

``auto`` (the paper protocol) takes the authors' list when the vocabulary is Qwen3's and the
derived rule otherwise.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

# The reflexive words of the paper's setup (docs/evaluation.md, "Blocked tokens").
REFLEXIVE_WORDS = (
    "wait", "alternatively", "hmm", "but", "however", "alternative", "another", "check",
    "double-check", "oh", "maybe", "verify", "other", "again", "now", "ah", "anyway", "anyhow",
)
PAPER_LIST_FILE = Path(__file__).parent / "data" / "qwen3_reflexive_token_ids.json"
BLOCKED_SETS = ("auto", "paper-list", "derived", "exact-words")

# Leading characters a BPE token may carry before a word: spaces, tabs, punctuation, quotes,
# dashes, ellipses, underscores.
_LEADING = re.compile(r"^[\W_]*")
# Parts of a camelCase / PascalCase identifier: "WebDriverWait" -> Web, Driver, Wait.
_CAMEL_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_MIN_PART = 3  # shorter words (oh, ah) inside identifiers are mostly noise ("mAh")


@lru_cache(maxsize=1)
def paper_token_list() -> tuple[tuple[int, str], ...]:
    """The authors' ``(id, text)`` pairs, in their order."""
    data = json.loads(PAPER_LIST_FILE.read_text(encoding="utf-8"))
    return tuple((int(t["id"]), t["text"]) for t in data["tokens"])


def decode_each(tokenizer, ids: Iterable[int]) -> list[str]:
    """Every id decoded on its own (special tokens kept, no clean-up of spaces)."""
    return tokenizer.batch_decode([[i] for i in ids], skip_special_tokens=False,
                                  clean_up_tokenization_spaces=False)


def is_qwen3_vocabulary(tokenizer) -> bool:
    """True when every id of the authors' list decodes to the text listed beside it."""
    pairs = paper_token_list()
    if len(tokenizer) <= max(i for i, _ in pairs):
        return False
    return decode_each(tokenizer, [i for i, _ in pairs]) == [text for _, text in pairs]


def word_forms(words: Iterable[str]) -> set[str]:
    """Case-folded forms that count as a reflexive word: the word, its -ed and -ing forms and
    un- + the -ed form (verify: verified, verifying, unverified). A hyphenated word counts through
    its last part, the piece BPE keeps (double-check -> check, as in the token ``-check``)."""
    forms: set[str] = set()
    for word in words:
        w = word.strip().lower().split("-")[-1]
        if not w:
            continue
        if w.endswith("y") and len(w) > 2:
            past, ing = w[:-1] + "ied", w + "ing"
        elif w.endswith("e"):
            past, ing = w + "d", w[:-1] + "ing"
        else:
            past, ing = w + "ed", w + "ing"
        forms |= {w, past, ing, "un" + past}
    return forms


def is_reflexive(text: str, forms: set[str]) -> bool:
    """The derived rule for one token's text.

    Leading spaces, tabs, punctuation, dashes and underscores are dropped; what remains must be
    ASCII letters. The token counts when those letters, case-folded, are one of ``forms``, or when
    they form a camelCase/PascalCase identifier with a part of 3+ letters in ``forms``
    (``waitFor``, ``WebDriverWait``, ``isChecked``).
    """
    core = text[_LEADING.match(text).end():]
    if not core or not core.isascii() or not core.isalpha():
        return False
    if core.lower() in forms:
        return True
    parts = _CAMEL_PART.findall(core)
    return (len(parts) > 1 and "".join(parts) == core
            and any(len(p) >= _MIN_PART and p.lower() in forms for p in parts))


def derived_ids(tokenizer, words: Iterable[str] = REFLEXIVE_WORDS) -> list[int]:
    """Ids of the vocabulary that :func:`is_reflexive` accepts."""
    forms = word_forms(words)
    if not forms:
        return []
    return [i for i, text in enumerate(decode_each(tokenizer, range(len(tokenizer))))
            if is_reflexive(text, forms)]


def exact_word_ids(tokenizer, words: Iterable[str] = REFLEXIVE_WORDS) -> list[int]:
    """Ids whose text minus leading spaces, case-folded, is exactly one of ``words``.

    ``" Wait"`` and ``"WAIT"`` match ``wait``; ``"waiter"``, ``"-check"`` or ``".But"`` do not.
    """
    wanted = {w.strip().lower() for w in words if w.strip()}
    if not wanted:
        return []
    return [i for i, text in enumerate(decode_each(tokenizer, range(len(tokenizer))))
            if text.lstrip(" ").lower() in wanted]


@dataclass(frozen=True)
class BlockedSet:
    ids: tuple[int, ...]
    source: str        # paper-list | derived | exact-words | explicit
    detail: str        # one line for the log

    def summary(self) -> dict:
        """What the run's metadata (and cache key) records."""
        digest = hashlib.sha256(",".join(map(str, sorted(self.ids))).encode()).hexdigest()[:12]
        return {"source": self.source, "count": len(self.ids), "ids_sha256": digest}


def select_blocked_ids(tokenizer, rule: str = "auto", words: Sequence[str] | None = None,
                       explicit_ids: Sequence[int] | None = None) -> BlockedSet:
    """Resolve ``rule`` for this tokenizer. Explicit ids win; explicit words skip the authors' list."""
    if rule not in BLOCKED_SETS:
        raise ValueError(f"unknown blocked set {rule!r}; choose one of {list(BLOCKED_SETS)}")
    if explicit_ids is not None:
        bad = [i for i in explicit_ids if not 0 <= int(i) < len(tokenizer)]
        if bad:
            raise ValueError(f"--blocked-token-ids {bad[:5]} are outside the reasoner's vocabulary "
                             f"(0..{len(tokenizer) - 1})")
        ids = tuple(sorted({int(i) for i in explicit_ids}))
        return BlockedSet(ids, "explicit", f"{len(ids)} ids given with --blocked-token-ids")
    custom_words = words is not None
    words = tuple(words) if custom_words else REFLEXIVE_WORDS
    if rule in ("auto", "paper-list") and not custom_words:
        if is_qwen3_vocabulary(tokenizer):
            ids = tuple(i for i, _ in paper_token_list())
            return BlockedSet(ids, "paper-list", f"the authors' {len(ids)} Qwen3 ids (vocabulary "
                              f"checked: every listed id decodes to its listed text)")
        if rule == "paper-list":
            raise ValueError("--blocked-set paper-list needs Qwen3's vocabulary, but the reasoner's "
                             "tokenizer decodes the listed ids differently; use --blocked-set derived")
    if rule in ("auto", "derived"):
        ids = tuple(derived_ids(tokenizer, words))
        why = "custom --blocked-words" if custom_words else "not Qwen3's vocabulary"
        return BlockedSet(ids, "derived", f"{len(ids)} ids derived from {len(words)} words by the affixed-"
                          f"forms rule ({why}; docs/evaluation.md)")
    if rule == "paper-list":
        raise ValueError("--blocked-set paper-list cannot be combined with --blocked-words")
    ids = tuple(exact_word_ids(tokenizer, words))
    return BlockedSet(ids, "exact-words", f"{len(ids)} ids spelling exactly one of {len(words)} words")
