"""Stage-0 focus ("Contents to observe") from a question: one implementation for data and evaluation.

The training data's human turn and the evaluation's perception prompt must use the same focus
text, so both call these functions (`generate_focus` takes any object with
`generate_text(prompts, max_new_tokens)`, e.g. a datagen teacher).
"""
from __future__ import annotations

from llava.prompts import PromptSet, parse_focus, strip_thinking

# Not stated in the paper (inferred): a focus is one short phrase.
DEFAULT_FOCUS_MAX_NEW_TOKENS = 128


def focus_from_output(text: str) -> str:
    """The focus phrase in a teacher's answer (text after the last "Contents to observe:")."""
    return parse_focus(strip_thinking(text))


def generate_focus(teacher, questions: list[str], prompts: PromptSet | None = None,
                   max_new_tokens: int = DEFAULT_FOCUS_MAX_NEW_TOKENS, batch_size: int = 16) -> list[str]:
    """One focus per question, in order ("" where the model's answer held none)."""
    prompts = prompts or PromptSet()
    focus = []
    for start in range(0, len(questions), batch_size):
        chunk = questions[start:start + batch_size]
        outputs = teacher.generate_text([prompts.focus_prompt(q) for q in chunk], max_new_tokens)
        focus.extend(focus_from_output(o) for o in outputs)
    return focus


def merge_foci(foci: list[str]) -> str:
    """All questions of one image -> one focus: distinct phrases in order, joined into one list.

    (Inferred: the paper merges all questions of an image into one training sample.)
    """
    distinct = list(dict.fromkeys(f.strip().rstrip(".").strip() for f in foci if f.strip()))
    if len(distinct) <= 1:
        return distinct[0] if distinct else ""
    return ", ".join(distinct[:-1]) + " and " + distinct[-1]
