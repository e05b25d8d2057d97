"""Stage 0: the question-specific focus ("Contents to observe").

Either a text LLM writes it with the Prism prompt (``PromptSet.focus_prompt``), or the user gives
the authors' JSON ``{index: focus}``. Thinking models are run with thinking off (the answer is one
short phrase); any ``<think>...</think>`` block is dropped before parsing anyway.
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from llava.eval.artifacts import JsonlArtifact
from llava.eval.text_generation import SamplingSettings, chat_prompt, generate_batches, load_causal_lm
from llava.prompts import PromptSet, parse_focus, strip_thinking

FOCUS_SAMPLING = SamplingSettings(do_sample=False, max_new_tokens=128)


def load_focus_file(path: str | Path, questions) -> dict[str, str]:
    """Read the authors' ``{index: focus}`` JSON; every benchmark question must have an entry."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"focus file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"focus file {path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"focus file {path} must be a JSON object {{index: focus}}, got {type(data).__name__}")
    focus = {str(k): str(v) for k, v in data.items()}
    missing = [q.index for q in questions if q.index not in focus]
    if missing:
        raise KeyError(f"focus file {path} has no entry for {len(missing)} question(s) "
                       f"(first: {missing[:5]}); its keys must be the benchmark's index values")
    return {q.index: focus[q.index] for q in questions}


def run_focus(questions, artifact: JsonlArtifact, model_path: str, prompts: PromptSet | None = None,
              batch_size: int = 16, dtype: str = "auto", device: str | None = None,
              model=None, tokenizer=None) -> dict[str, str]:
    """Generate the focus for every question not yet in ``artifact``; return ``{index: focus}``."""
    prompts = prompts or PromptSet()
    todo = [q for q in questions if q.index not in artifact]
    if todo:
        if model is None:
            model, tokenizer = load_causal_lm(model_path, dtype, device)
        texts = {q.index: chat_prompt(tokenizer, prompts.focus_prompt(q.question), enable_thinking=False)
                 for q in todo}
        by_key = {q.index: q for q in todo}
        with tqdm(total=len(questions), initial=len(questions) - len(todo), desc="focus", unit="q",
                  dynamic_ncols=True) as bar:
            for batch in generate_batches(model, tokenizer, texts, FOCUS_SAMPLING, batch_size,
                                          progress=bar):
                artifact.append({"index": g.key, "question": by_key[g.key].question,
                                 "raw": g.text, "focus": parse_focus(strip_thinking(g.text))}
                                for g in batch)
    return {q.index: artifact.get(q.index)["focus"] for q in questions}
