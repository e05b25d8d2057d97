"""The functions an Extract+Think task folder hands to lmms-eval (``!function`` in its YAMLs).

A folder written by ``llava-eval lmms-eval-tasks`` holds a settings JSON (benchmark, focus per
question, prompts, answer-line rule) and a two-line module that binds :class:`PrismTasks` to it.

- stage 1: the image (RGB) and the project's extraction prompt with the question's focus;
- stage 2: the question text (options included; the ``qwen3`` model adds the description and the
  stage-2 prompt), scored by the authors' parse followed by lmms-eval's own MMStar / VMCBench
  ``process_results`` and aggregation.
"""
from __future__ import annotations

import json
from pathlib import Path

from llava.eval.benchmarks import BUILDERS
from llava.eval.pipeline import extraction_text
from llava.eval.scoring import extract_answer
from llava.prompts import PromptSet

# lmms-eval's own scoring per benchmark: (module, process_results, aggregate).
LMMS_SCORING = {
    "mmstar": ("lmms_eval.tasks.mmstar.utils", "mmstar_process_results", "mmstar_aggregate_results"),
    "vmcbench": ("lmms_eval.tasks.vmcbench.utils", "vmcbench_process_results", "vmcbench_aggregate_results"),
}


def _lmms_function(benchmark: str, which: int):
    import importlib

    module, *names = LMMS_SCORING[benchmark]
    return getattr(importlib.import_module(module), names[which])


class PrismTasks:
    def __init__(self, benchmark: str, focus: dict[str, str], prompts: PromptSet, answer_line: str):
        if benchmark not in LMMS_SCORING:
            raise ValueError(f"unknown benchmark {benchmark!r}; choose one of {sorted(LMMS_SCORING)}")
        self.benchmark = benchmark
        self.focus = focus
        self.prompts = prompts
        self.answer_line = answer_line

    @classmethod
    def load(cls, path: str | Path) -> "PrismTasks":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["benchmark"], data["focus"], PromptSet(**data["prompts"]), data["answer_line"])

    @staticmethod
    def _index(doc) -> str:
        if doc.get("index") is None:
            raise KeyError(f"a document has no 'index' field (fields: {sorted(doc)}); the focus file is keyed by it")
        return str(doc["index"])

    # -- stage 1 ------------------------------------------------------------------------------
    def stage_1_doc_to_visual(self, doc):
        # The same decoding (and errors naming the question) as llava-eval's own benchmark reader.
        return [BUILDERS[self.benchmark](dict(doc), 0, None).load_image()]

    def stage_1_doc_to_text(self, doc, lmms_eval_specific_kwargs=None):
        index = self._index(doc)
        if index not in self.focus:
            raise KeyError(f"the task folder's focus has no entry for index {index}; rewrite it with "
                           "llava-eval lmms-eval-tasks for this data")
        return extraction_text(self.prompts, self.focus[index])

    # -- stage 2 ------------------------------------------------------------------------------
    def stage_2_doc_to_text(self, doc, lmms_eval_specific_kwargs=None):
        return BUILDERS[self.benchmark](dict(doc), 0, None).question.strip()

    def stage_2_process_results(self, doc, results):
        parsed = [extract_answer(r, self.answer_line) for r in results]
        return _lmms_function(self.benchmark, 0)(doc, parsed)

    def aggregate_results(self, results):
        return _lmms_function(self.benchmark, 1)(results)
