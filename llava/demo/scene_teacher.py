"""The shapes world's teacher: the data-generation pipeline's deterministic `scene` backend,
answering from the shapes-world scene graph.

`llava-datagen --backend llava.demo.scene_teacher:ShapesTeacher` (the demo passes this). Each VQA
sample written by `llava.demo.build` carries a `scene` key (the scene graph under `graph`); the
pipeline hands it to the teacher as the item's metadata. The teacher then writes what a real
teacher VLM would, but exactly:

- statements: one declarative sentence per question-answer pair (`world.statement_for`);
- description: the canonical scene description followed by the statements, as the paper's step-2
  prompt asks ("incorporate the following information about the image");
- focus: the question-specific "contents to observe" (`world.focus_for`), the same text the
  benchmark's stored focus file holds.
"""
from __future__ import annotations

from llava.datagen.teachers.scene import SceneTeacher
from llava.demo import world


class ShapesTeacher(SceneTeacher):
    """`SceneTeacher` whose answers come from a `world.Scene` graph (metadata `scene.graph`)."""

    @staticmethod
    def graph(scene: dict) -> world.Scene:
        if "graph" not in scene:
            raise ValueError("the shapes teacher needs `scene.graph` (a shapes-world scene graph) in the sample; "
                             "regenerate the VQA file with `python -m llava.demo.build`")
        return world.Scene.from_dict(scene["graph"])

    def statement(self, question: str, answer: str, scene: dict) -> str:
        return world.statement_for(question, answer, self.graph(scene))

    def focus(self, question: str, scene: dict) -> str:
        return world.focus_for(question)

    def description(self, scene: dict, statements: str) -> str:
        return world.extraction_description(self.graph(scene), statements.splitlines())
