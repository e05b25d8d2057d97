"""The paper's prompt texts, in one place.

Data generation (statements, descriptions, training instructions) and evaluation (focus,
perception, reasoning) both import from here, so the text a model is trained on and the text it is
evaluated with can never drift apart. Every text can be replaced by a YAML/JSON file through
:func:`load_prompt_overrides`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

PROMPT_VERSION = "v1"

# --- visual extraction data generation (docs/data_generation.md) -------------------------------
STATEMENT_INSTRUCTION = (
    "Your task is to convert each question\u2013answer pair about an image into a concise, fully "
    "self-contained declarative statement. The resulting statements should be understandable on "
    "their own, without requiring the reader to refer to the original question."
)
STATEMENT_PAIR = "\nQuestion #{k}: {question}\nAnswer: {answer}"
STATEMENT_COUNT = (
    "\nAs there are {n} questions, you should respond with {n} statements. "
    "Include each statement on its own line"
)
STATEMENT_SUFFIX = "\nDeclarative Statement(s):"

DESCRIPTION_INSTRUCTION = (
    "Your task is to describe the fine-grained content of the image, including scenes, objects, "
    "relationships, instance location, and any text present."
)
DESCRIPTION_INCORPORATE = (
    "\nAs part of your description, you should incorporate the following information about the "
    "image.\n"
)
DESCRIPTION_SUFFIX = "\nDescription:"

# Shared by the extraction training data (human turn) and evaluation stage 1 (perception prompt).
EXTRACTION_PROMPT = (
    "Describe the fine-grained content of the image, including scenes, objects, relationships, "
    "instance location, and any text present. Especially, pay attention to {focus}"
)
# Caption+Think: the generic description prompt (no question-specific focus).
CAPTION_PROMPT = (
    "Describe the fine-grained content of the image, including scenes, objects, relationships, "
    "instance location, and any text present."
)

# --- stage 0: question-specific focus ("Contents to observe"), from Prism -------------------------
FOCUS_INSTRUCTION = (
    "Your task is to give a concise instruction about what basic elements are needed to be "
    "described based on the given question. Ensure that your instructions do not cover the raw "
    "question, options or thought process of answering the question."
)
FOCUS_EXAMPLES = (
    ("In which period the number of full time employees is the maximum?",
     "the number of full time employees"),
    ("What is the value of the smallest bar?", "the heights of all bars and their values"),
    ("What is the main subject of the image?", "the central theme or object"),
    ("What is the position of the catcher relative to the home plate?",
     "the spatial arrangement of the objects"),
    ("What is the expected ratio of offspring with white spots to offspring with solid coloring? "
     "Choose the most likely ratio.", "the genetic information"),
)
FOCUS_EXAMPLE = "Question: {question}\nContents to observe: {focus}"
FOCUS_QUERY = 'Now, perform the task, and format your answer as "Contents to observe:" Question: {question}'
FOCUS_ANSWER_MARKER = "Contents to observe:"

# --- stage 2: reasoning --------------------------------------------------------------------------
DESCRIPTION_SLOT = "{description}"
REASONING_PREFIX = (
    "You are an excellent text-based reasoning expert. You are required to answer the question "
    "based on the detailed description of the image.\n\nDescription: {description}"
)
REASONING_SUFFIX_THINKING = (
    '\nPlease reason step by step, and give the final answer on the last line by itself in the '
    'format of "Answer:". Do not add anything other than the letter answer after "Answer:".'
)
REASONING_SUFFIX_DIRECT = (
    '\nAnswer directly with the option\'s letter in the format of "Answer:". Do not add anything '
    'other than the letter answer after "Answer:".'
)


@dataclass(frozen=True)
class PromptSet:
    """All replaceable prompt texts. Field names are the keys of an override file."""

    statement_instruction: str = STATEMENT_INSTRUCTION
    statement_pair: str = STATEMENT_PAIR
    statement_count: str = STATEMENT_COUNT
    statement_suffix: str = STATEMENT_SUFFIX
    description_instruction: str = DESCRIPTION_INSTRUCTION
    description_incorporate: str = DESCRIPTION_INCORPORATE
    description_suffix: str = DESCRIPTION_SUFFIX
    extraction_prompt: str = EXTRACTION_PROMPT
    caption_prompt: str = CAPTION_PROMPT
    focus_instruction: str = FOCUS_INSTRUCTION
    focus_example: str = FOCUS_EXAMPLE
    focus_query: str = FOCUS_QUERY
    reasoning_prefix: str = REASONING_PREFIX
    reasoning_suffix_thinking: str = REASONING_SUFFIX_THINKING
    reasoning_suffix_direct: str = REASONING_SUFFIX_DIRECT
    version: str = PROMPT_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    # -- builders ---------------------------------------------------------------------------
    def statement_prompt(self, qa_pairs: list[tuple[str, str]]) -> str:
        """Step 1: question-answer pairs -> declarative statements (text-only teacher)."""
        if not qa_pairs:
            raise ValueError("statement_prompt needs at least one (question, answer) pair")
        text = self.statement_instruction
        for k, (question, answer) in enumerate(qa_pairs, start=1):
            text += self.statement_pair.format(k=k, question=question, answer=answer)
        if len(qa_pairs) > 1:
            text += self.statement_count.format(n=len(qa_pairs))
        return text + self.statement_suffix

    def description_prompt(self, statements: str) -> str:
        """Step 2: image + statements -> fine-grained description."""
        return (self.description_instruction + self.description_incorporate + statements
                + self.description_suffix)

    def extraction_instruction(self, focus: str) -> str:
        """Human turn of extraction data and the stage-1 perception prompt."""
        focus = focus.strip()
        if not focus.endswith("."):
            focus += "."
        return self.extraction_prompt.format(focus=focus)

    def focus_prompt(self, question: str) -> str:
        """Stage 0: the "Contents to observe" prompt for one question."""
        examples = "\n".join(self.focus_example.format(question=q, focus=f) for q, f in FOCUS_EXAMPLES)
        return f"{self.focus_instruction}\n{examples}\n{self.focus_query.format(question=question)}"

    def reasoning_prompt(self, description: str, question: str, thinking: bool) -> str:
        """Stage 2: the single user message given to the reasoning model.

        ``{description}`` sits in the prefix (the paper) or in the suffix (an override that puts the
        description after the question); exactly one of the two must hold it.
        """
        description = description if description.endswith("\n") else description + "\n"
        q = question.strip()
        if not q.lower().startswith(("question:", "hint:")):   # case-insensitive, as the authors' check
            q = "Question: " + q
        suffix_field = "reasoning_suffix_thinking" if thinking else "reasoning_suffix_direct"
        suffix = getattr(self, suffix_field)
        holders = [name for name, text in (("reasoning_prefix", self.reasoning_prefix), (suffix_field, suffix))
                   if DESCRIPTION_SLOT in text]
        if len(holders) != 1:
            raise ValueError(f"reasoning prompt: {DESCRIPTION_SLOT} must appear in exactly one of reasoning_prefix "
                             f"and {suffix_field}, found in {holders or 'neither'}; fix the prompt override file")
        return (self.reasoning_prefix.replace(DESCRIPTION_SLOT, description) + q
                + suffix.replace(DESCRIPTION_SLOT, description))


def strip_thinking(text: str) -> str:
    """Drop a `<think>...</think>` block (thinking models) and surrounding whitespace."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.strip()


def parse_focus(text: str) -> str:
    """Return the text after the last "Contents to observe:" marker (or the whole text)."""
    if FOCUS_ANSWER_MARKER in text:
        text = text.rsplit(FOCUS_ANSWER_MARKER, 1)[1]
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def load_prompt_overrides(path: str | Path | None) -> PromptSet:
    """Default prompts, with fields replaced from a YAML or JSON file (unknown keys are an error)."""
    if path is None:
        return PromptSet()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt file {path} does not exist")
    raw = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(raw) or {}
    else:
        data = json.loads(raw)
    known = {f.name for f in fields(PromptSet)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown prompt keys {unknown}; allowed keys: {sorted(known)}")
    if "version" not in data:
        data["version"] = f"{PROMPT_VERSION}-custom"
    return replace(PromptSet(), **data)
