"""Deterministic teacher for synthetic data: answers from a scene graph instead of a model.

The synthetic demo (docs/demo.md) stores ground truth in each VQA sample; every sample key other than
`id`/`image`/`conversations` reaches the teacher as the item's metadata. This teacher reads
`metadata["scene"]`:

- `description` (str, required for the describe step): the ground-truth scene description;
- `statements` (optional, {question: statement}): otherwise a templated statement per QA pair;
- `focus` (optional, {question: contents to observe}): otherwise a keyword rule.

Subclass it (and pass `--backend package.module:Class`) to change any of the three answers.
"""
from __future__ import annotations

import re

from llava.datagen.teachers.base import Teacher, TeacherOptions

# First matching rule wins; the words are whole-word, lower-case matches on the question.
_FOCUS_RULES = (
    (("how many", "number of", "count"), "the number of objects of each kind"),
    (("colour", "color"), "the colours of the objects"),
    (("shape",), "the shapes of the objects"),
    (("left", "right", "above", "below", "top", "bottom", "where", "position", "next to", "between"),
     "the positions of the objects and their spatial relationships"),
    (("bigger", "smaller", "larger", "size", "more", "fewer", "same"), "the sizes and counts of the objects"),
    (("text", "written", "word", "say", "letter"), "the text in the image"),
)
_DEFAULT_FOCUS = "the objects in the image and their attributes"


class SceneTeacher(Teacher):
    default_batch_size = 64

    @classmethod
    def from_options(cls, options: TeacherOptions) -> "SceneTeacher":
        return cls()

    @staticmethod
    def _scene(context: dict) -> dict:
        scene = (context.get("metadata") or {}).get("scene")
        if not isinstance(scene, dict):
            raise ValueError("the scene teacher needs a `scene` mapping in the sample (next to `image` and "
                             "`conversations`)")
        return scene

    def statement(self, question: str, answer: str, scene: dict) -> str:
        given = (scene.get("statements") or {}).get(question)
        return given if given else f'The answer to "{question}" is {answer}.'

    def focus(self, question: str, scene: dict) -> str:
        given = (scene.get("focus") or {}).get(question)
        if given:
            return given
        text = question.lower()
        for words, focus in _FOCUS_RULES:
            if any(re.search(rf"\b{re.escape(w)}\b", text) for w in words):
                return focus
        return _DEFAULT_FOCUS

    def description(self, scene: dict, statements: str) -> str:
        if not scene.get("description"):
            raise ValueError("the scene has no `description`")
        return scene["description"]

    def _answer(self, context: dict) -> str:
        scene = self._scene(context)
        step = context.get("step")
        if step == "statements":
            return "\n".join(self.statement(q, a, scene) for q, a in context["qa_pairs"])
        if step == "focus":
            # Same surface form as a model's answer, so the shared parser reads it.
            return f"Contents to observe: {self.focus(context['question'], scene)}"
        if step == "describe":
            return self.description(scene, context.get("statements", ""))
        raise ValueError(f"the scene teacher cannot answer step {step!r}")

    def _answers(self, prompts, contexts):
        if contexts is None or len(contexts) != len(prompts):
            raise ValueError("the scene teacher needs one context per prompt (it answers from ground truth)")
        return [self._answer(c) for c in contexts]

    def generate_text(self, prompts, max_new_tokens, contexts=None):
        return self._answers(prompts, contexts)

    def generate_with_images(self, prompts, images, max_new_tokens, contexts=None):
        return self._answers(prompts, contexts)
