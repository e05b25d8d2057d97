"""The teacher's prompts and the training instruction match the paper's texts character for character.

The expected strings are copied from the paper's release (as docs/data_generation.md quotes them),
not imported from llava.prompts, so a drift in either place fails here.
"""
from __future__ import annotations

import json

from datagen_helpers import read_jsonl, run_cli
from PIL import Image

from llava.datagen.teachers import register_teacher
from llava.datagen.teachers.scene import SceneTeacher

STATEMENT_INSTRUCTION = ("Your task is to convert each question–answer pair about an image into a concise, fully "
                         "self-contained declarative statement. The resulting statements should be understandable on "
                         "their own, without requiring the reader to refer to the original question.")
DESCRIPTION = ("Your task is to describe the fine-grained content of the image, including scenes, objects, "
               "relationships, instance location, and any text present.")
INCORPORATE = "\nAs part of your description, you should incorporate the following information about the image.\n"
EXTRACTION = ("Describe the fine-grained content of the image, including scenes, objects, relationships, instance "
              "location, and any text present. Especially, pay attention to ")
FOCUS_INSTRUCTION = ("Your task is to give a concise instruction about what basic elements are needed to be described "
                     "based on the given question. Ensure that your instructions do not cover the raw question, "
                     "options or thought process of answering the question.")
FOCUS_EXAMPLES = [
    ("In which period the number of full time employees is the maximum?", "the number of full time employees"),
    ("What is the value of the smallest bar?", "the heights of all bars and their values"),
    ("What is the main subject of the image?", "the central theme or object"),
    ("What is the position of the catcher relative to the home plate?", "the spatial arrangement of the objects"),
    ("What is the expected ratio of offspring with white spots to offspring with solid coloring? Choose the most "
     "likely ratio.", "the genetic information"),
]
FOCUS_QUERY = 'Now, perform the task, and format your answer as "Contents to observe:" Question: '


class RecordingTeacher(SceneTeacher):
    prompts: list[tuple[str, str]] = []

    def generate_text(self, prompts, max_new_tokens, contexts=None):
        self.prompts.extend((c["step"], p) for p, c in zip(prompts, contexts))
        return super().generate_text(prompts, max_new_tokens, contexts)

    def generate_with_images(self, prompts, images, max_new_tokens, contexts=None):
        assert all(im.size == (512, 512) and im.mode == "RGB" for im in images)
        self.prompts.extend((c["step"], p) for p, c in zip(prompts, contexts))
        return super().generate_with_images(prompts, images, max_new_tokens, contexts)


def test_prompt_texts_match_reference(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (300, 200), "red").save(tmp_path / "img" / "two.png")
    Image.new("L", (64, 64)).save(tmp_path / "img" / "one.png")
    scene = {"description": "A red picture.", "statements": {"Is it red?": "The picture is red."},
             "focus": {"Is it red?": "the colour of the picture", "How many cats?": "the number of cats."}}
    samples = [
        {"id": "a", "image": "two.png", "scene": scene, "conversations": [
            {"from": "human", "value": "<image>\nIs it red?"}, {"from": "gpt", "value": "yes"},
            {"from": "human", "value": "How many cats?"}, {"from": "gpt", "value": "0"}]},
        {"id": "b", "image": "one.png", "scene": scene, "conversations": [
            {"from": "human", "value": "Is it red?\n<image>"}, {"from": "gpt", "value": "no"}]},
    ]
    (tmp_path / "v.json").write_text(json.dumps(samples))
    (tmp_path / "l.yaml").write_text("datasets:\n  - json_path: v.json\n    image_folder: img\n")
    register_teacher("recording", RecordingTeacher)
    RecordingTeacher.prompts.clear()
    out = tmp_path / "out"
    assert run_cli("run", "--datasets", tmp_path / "l.yaml", "--output-dir", out, "--backend", "recording",
                   "--no-progress") == 0
    assert run_cli("merge", "--output-dir", out) == 0
    seen = {}
    for step, prompt in RecordingTeacher.prompts:
        seen.setdefault(step, set()).add(prompt)

    assert seen["statements"] == {
        STATEMENT_INSTRUCTION + "\nQuestion #1: Is it red?\nAnswer: yes\nQuestion #2: How many cats?\nAnswer: 0"
        "\nAs there are 2 questions, you should respond with 2 statements. Include each statement on its own line"
        "\nDeclarative Statement(s):",
        STATEMENT_INSTRUCTION + "\nQuestion #1: Is it red?\nAnswer: no\nDeclarative Statement(s):",
    }
    assert seen["describe"] == {
        DESCRIPTION + INCORPORATE + 'The picture is red.\nThe answer to "How many cats?" is 0.' + "\nDescription:",
        DESCRIPTION + INCORPORATE + "The picture is red." + "\nDescription:",
    }
    examples = "\n".join(f"Question: {q}\nContents to observe: {f}" for q, f in FOCUS_EXAMPLES)
    assert seen["focus"] == {f"{FOCUS_INSTRUCTION}\n{examples}\n{FOCUS_QUERY}{q}" for q in ("Is it red?",
                                                                                              "How many cats?")}

    samples = json.loads((out / "final" / "v.json").read_text())
    assert [s["conversations"][0]["value"] for s in samples] == [
        "<image>\n" + EXTRACTION + "the colour of the picture and the number of cats.",
        "<image>\n" + EXTRACTION + "the colour of the picture.",
    ]
    assert [s["conversations"][1]["value"] for s in samples] == ["A red picture.", "A red picture."]
    assert [r["foci"] for r in sorted(read_jsonl(out / "shard-00000-of-00001" / "focus.jsonl"),
                                      key=lambda r: r["index"])] == [
        ["the colour of the picture", "the number of cats."], ["the colour of the picture"]]


def test_default_generation_limits_are_the_papers(tmp_path):
    from llava.datagen.cli import _parser

    from llava.datagen.cli import _embedded_default

    args = _parser().parse_args(["run", "--datasets", "x.yaml", "--output-dir", "o"])
    assert (args.max_new_tokens_statements, args.max_new_tokens_describe, args.image_size) == (1024, 2048, 512)
    _embedded_default(args)  # with --datasets given: the real teacher defaults
    assert args.model == "Qwen/Qwen3-VL-8B-Instruct" and args.backend == "hf" and args.temperature == 0.0
