"""The three generation steps: what each asks the teacher per item and what it records.

statements: QA pairs -> declarative statements (text only, 1024 new tokens);
describe:   image (512x512) + statements -> fine-grained description (2048 new tokens);
focus:      each distinct question -> "contents to observe" (text only), merged per image.
"""
from __future__ import annotations

from dataclasses import dataclass

from llava.datagen.focus import DEFAULT_FOCUS_MAX_NEW_TOKENS, focus_from_output, merge_foci
from llava.datagen.sources import Item
from llava.prompts import PromptSet

STEPS = ("statements", "describe", "focus")  # run order: both image-teacher steps before a focus model loads
DEFAULT_MAX_NEW_TOKENS = {"statements": 1024, "describe": 2048, "focus": DEFAULT_FOCUS_MAX_NEW_TOKENS}
NEEDS = {"statements": (), "describe": ("statements",), "focus": ()}
USES_IMAGE = {"statements": False, "describe": True, "focus": False}
OUTPUT_FIELD = {"statements": "statements", "describe": "description", "focus": "focus"}


class StepError(ValueError):
    """An item the step cannot finish (recorded as an error record, not raised to the user)."""


@dataclass(frozen=True)
class Request:
    """One teacher prompt; `part` numbers the prompts of one item (focus: one per question)."""

    index: int
    part: int
    prompt: str
    context: dict


def requests_for(step: str, item: Item, prompts: PromptSet, upstream: dict[str, dict]) -> list[Request]:
    base = {"step": step, "metadata": item.metadata, "qa_pairs": item.qa_pairs}
    if step == "statements":
        return [Request(item.index, 0, prompts.statement_prompt(item.qa_pairs), base)]
    if step == "describe":
        statements = upstream["statements"]["statements"]
        return [Request(item.index, 0, prompts.description_prompt(statements), {**base, "statements": statements})]
    if step == "focus":
        return [Request(item.index, k, prompts.focus_prompt(q), {**base, "question": q})
                for k, q in enumerate(item.questions)]
    raise ValueError(f"unknown step {step!r}; steps are {STEPS}")


def finish(step: str, item: Item, outputs: list[str]) -> dict:
    """The step's fields of the item's record; raises StepError when the teacher gave nothing usable."""
    if step == "focus":
        foci = [focus_from_output(o) for o in outputs]
        empty = [q for q, f in zip(item.questions, foci) if not f]
        if empty:
            raise StepError(f"the teacher's answer held no focus for question {empty[0]!r}")
        return {"foci": foci, "focus": merge_foci(foci)}
    text = outputs[0].strip()
    if not text:
        raise StepError("the teacher returned empty text")
    return {OUTPUT_FIELD[step]: text}


def probe_prompts(step: str, prompts: PromptSet) -> str:
    """The step's prompt for a fixed input: part of the cache key, so any change to the texts (or
    to how they are assembled) is detected."""
    if step == "statements":
        return prompts.statement_prompt([("Q1?", "A1"), ("Q2?", "A2")]) + "\0" + prompts.statement_prompt([("Q?", "A")])
    if step == "describe":
        return prompts.description_prompt("S1\nS2")
    return prompts.focus_prompt("Q?")
