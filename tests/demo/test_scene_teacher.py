"""The shapes teacher answers the data-generation steps from the scene graph, through the real
pipeline's request builder and teacher lookup."""
from __future__ import annotations

import dataclasses
import json

import pytest

from llava.datagen import steps
from llava.datagen.sources import collect_items, load_dataset_list
from llava.datagen.teachers import teacher_class
from llava.demo import build, world
from llava.demo.scene_teacher import ShapesTeacher
from llava.prompts import PromptSet


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    build.build_world(out, build.WorldConfig(seed=5, train_images=12, per_type=4, reasoner_samples=4),
                      progress=False)
    return out


@pytest.fixture(scope="module")
def vqa(world_dir):
    return json.loads((world_dir / "vqa.json").read_text())


@pytest.fixture(scope="module")
def items(world_dir):
    """The pipeline's own reading of the world's dataset list (one item per image)."""
    found, _ = collect_items(load_dataset_list(world_dir / "datagen.yaml"))
    return found


def test_backend_is_found_by_its_import_path():
    assert teacher_class("llava.demo.scene_teacher:ShapesTeacher") is ShapesTeacher


def test_statements_describe_and_focus_from_graph(vqa, items):
    teacher, prompts = ShapesTeacher(), PromptSet()
    assert len(items) == len(vqa)
    for sample, item in zip(vqa, items):
        assert item.image == sample["image"]
        graph = world.Scene.from_dict(sample["scene"]["graph"])
        (req,) = steps.requests_for("statements", item, prompts, {})
        (statements,) = teacher.generate_text([req.prompt], 1024, [req.context])
        lines = statements.splitlines()
        assert len(lines) == len(item.qa_pairs)
        for (q, a), line in zip(item.qa_pairs, lines):
            assert line == sample["scene"]["statements"][q]
            assert line.endswith(f" {a}.")  # the answer is the statement's last word(s)
            focus = sample["scene"]["focus"][q]
            assert line.startswith(focus[0].upper() + focus[1:] + ": ")

        upstream = {"statements": steps.finish("statements", item, [statements])}
        (req,) = steps.requests_for("describe", item, prompts, upstream)
        assert statements in req.prompt
        (description,) = teacher.generate_with_images([req.prompt], [None], 2048, [req.context])
        assert description == world.describe(graph) + " " + " ".join(lines)

        reqs = steps.requests_for("focus", item, prompts, {})
        outs = teacher.generate_text([r.prompt for r in reqs], 64, [r.context for r in reqs])
        record = steps.finish("focus", item, outs)
        assert record["foci"] == [sample["scene"]["focus"][q] for q in item.questions]


def test_missing_graph_is_a_clear_error(items):
    item = dataclasses.replace(items[0], metadata={"scene": {k: v for k, v in items[0].metadata["scene"].items()
                                                             if k != "graph"}})
    upstream = {"statements": {"statements": "The color of the circle is red."}}
    (req,) = steps.requests_for("describe", item, PromptSet(), upstream)
    with pytest.raises(ValueError, match="scene.graph"):
        ShapesTeacher().generate_with_images([req.prompt], [None], 2048, [req.context])


def test_statements_for_unknown_questions_fall_back():
    assert world.statement_for("Is it sunny?", "yes") == 'The answer to the question "Is it sunny?" is yes.'
    assert world.statement_for("What color is the circle?", "red") == "The circle's color: circle red."
    for question, answer in [("Which object has the same color as the circle?", "star"),
                             ("What shape is at the top left?", "circle")]:
        with pytest.raises(ValueError, match="needs the scene graph"):
            world.statement_for(question, answer)
    assert world.focus_for("Is it sunny?") == "the objects in the image"


def test_teacher_writes_the_new_wording():
    """Hand-written statements and foci (the teacher is what the real pipeline calls)."""
    teacher = ShapesTeacher()
    scene = {"graph": world.Scene("s", [world.Obj("circle", "red", 0, 0), world.Obj("square", "blue", 0, 1)]).to_dict()}
    cases = [
        ("What color is the circle?", "red", "the circle's color", "The circle's color: circle red."),
        ("Where is the circle relative to the square?", "left", "the circle's position relative to the square",
         "The circle's position relative to the square: circle top left square top center left."),
        ("Where is the square?", "top center", "the square's position",
         "The square's position: square top center."),
        ("What shape is at the top center?", "square", "the shape at the top center",
         "The shape at the top center: top center: blue square."),
        ("Which object has the same color as the circle?", "square", "the object with the circle's color",
         "The object with the circle's color: circle red square."),
        ("What word is written in the image?", "sun", "the written word", "The written word: word sun."),
        ("How many blue objects are there?", "1", "the blue objects' number", "The blue objects' number: blue 1."),
    ]
    for question, answer, focus, statement in cases:
        assert teacher.focus(question, scene) == focus
        assert teacher.statement(question, answer, scene) == statement
    description = teacher.description(scene, "The circle's color: circle red.\n"
                                             "The square's position: square top center.")
    assert description == ("top left: red circle top left; top center: blue square top center; top right: empty; "
                           "middle left: empty; middle center: empty; middle right: empty; bottom left: empty; "
                           "bottom center: empty; bottom right: empty. There are 2 objects. "
                           "The circle's color: circle red. The square's position: square top center.")
