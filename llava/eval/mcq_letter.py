"""The option letter lmms-eval 0.7.3 reads from a prediction (its ``extract_mcq_answer``).

lmms-eval 0.7.x scores MMStar by extracting one letter and comparing it with the gold letter,
unlike lmms-eval 0.4's first-character rules (``scoring.match_lmms_eval_v04``). Behaviour, as
measured against lmms-eval 0.7.3 (tests/eval/test_lmms_eval_scoring.py compares the two):

1. Strip whitespace, then strip each of ``, . ! ? ; : ' "`` from both ends in that order; pad with
   one space on each side.
2. Collect candidates ``(letter, position, form)`` for every letter: the last ``(X)``, ``X.``,
   ``X:``, ``X)``, ``X `` (upper case only); after the first occurrence of an answer phrase
   ("the answer is", "i choose", ... case-insensitive) the first ``X`` that follows; ``X`` at the
   very start or end when not part of a word.
3. Without any candidate, the last occurrence of any letter anywhere.
4. The best form wins (start > end > phrase > (X) > X. > X: > X) > "X "), then the later
   position; equal ones keep the order of step 2.
"""
from __future__ import annotations

from typing import Iterable

ANSWER_PHRASES = (
    "the answer is", "answer is", "the correct answer is", "correct answer is", "the best answer is",
    "best answer is", "the correct option is", "correct option is", "the best option is",
    "best option is", "the choice is", "choice is", "the correct choice is", "correct choice is",
    "i choose", "i select", "i pick", "my answer is", "my choice is",
    "옵션", "정답은", "답은", "답:", "答案是", "答案为", "选", "答えは",
)
_RANK = {"start": 10, "end": 9, "phrase": 7, "parentheses": 6, "period": 5, "colon": 4,
         "right_paren": 3, "space": 2, "fallback": 0}
_EDGE_CHARS = (",", ".", "!", "?", ";", ":", "'", '"')
_FORMS = (("parentheses", "({})"), ("period", "{}."), ("colon", "{}:"), ("right_paren", "{})"),
          ("space", "{} "))


def mcq_letter(response: str | None, choices: Iterable[str] = "ABCDEFGH") -> str:
    """The chosen letter, or ``""`` when the response holds none."""
    if not response or not response.strip():
        return ""
    letters = list(choices)
    text = response.strip()
    for ch in _EDGE_CHARS:
        text = text.strip(ch)
    text = f" {text} "
    found: list[tuple[str, int, str]] = []
    for form, pattern in _FORMS:
        for letter in letters:
            pos = text.rfind(pattern.format(letter))
            if pos != -1:
                found.append((letter, pos, form))
    lowered = text.lower()
    for phrase in ANSWER_PHRASES:
        at = lowered.find(phrase)
        if at != -1:
            for letter in letters:
                pos = text.find(letter, at + len(phrase))
                if pos != -1:
                    found.append((letter, pos, "phrase"))
    core = text.strip()
    for letter in letters:
        if core.startswith(letter) and (len(core) == 1 or not core[1].isalpha()):
            found.append((letter, 0, "start"))
    for letter in letters:
        if core.endswith(letter) and (len(core) == 1 or not core[-2].isalpha()):
            found.append((letter, len(text) - 1, "end"))
    if not found:
        found = [(letter, text.rfind(letter), "fallback") for letter in letters if letter in text]
    if not found:
        return ""
    return sorted(found, key=lambda c: (_RANK[c[2]], c[1]), reverse=True)[0][0]
