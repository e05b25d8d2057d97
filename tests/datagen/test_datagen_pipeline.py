"""The whole pipeline with a tiny random Qwen3-VL teacher: output format, errors, batching."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from datagen_helpers import FAST_LIMITS, make_vqa, read_jsonl, run_cli
from PIL import Image

# The paper's prompts (docs/data_generation.md), copied literally (not imported from llava.prompts).
HUMAN_PREFIX = ("<image>\nDescribe the fine-grained content of the image, including scenes, objects, relationships, "
                "instance location, and any text present. Especially, pay attention to ")
DESCRIPTION_PROMPT = ("Your task is to describe the fine-grained content of the image, including scenes, objects, "
                      "relationships, instance location, and any text present."
                      "\nAs part of your description, you should incorporate the following information about the "
                      "image.\n{statements}\nDescription:")
NUM_IMAGES = 6  # plus one corrupt image
pytestmark = pytest.mark.slow  # two tiny-teacher runs (~15 s idle, ~60 s on a busy 2-core machine)


@pytest.fixture(scope="module")
def runs(tiny_teacher, tmp_path_factory):
    """The same data generated at batch size 4 and at batch size 1, then merged."""
    root = tmp_path_factory.mktemp("pipeline")
    listing = make_vqa(root / "data", num_images=NUM_IMAGES, corrupt=True)
    outs = {}
    for batch_size in (4, 1):
        out = root / f"out_bs{batch_size}"
        assert run_cli("run", "--datasets", listing, "--output-dir", out, "--model", tiny_teacher,
                       "--batch-size", batch_size, "--no-progress", *FAST_LIMITS) == 0
        assert run_cli("merge", "--output-dir", out) == 0
        outs[batch_size] = out
    return {"root": root, "listing": listing, **outs}


def _shard(out: Path) -> Path:
    return out / "shard-00000-of-00001"


def test_output_is_llava_format_with_an_accepted_data_config(runs):
    config_path = runs[4] / "final" / "extraction_data.yaml"
    config = yaml.safe_load(config_path.read_text())
    assert set(config) == {"datasets"} and len(config["datasets"]) == 1
    entry = config["datasets"][0]
    assert set(entry) == {"json_path", "image_folder", "sampling_strategy"} and entry["sampling_strategy"] == "all"
    samples = json.loads(Path(entry["json_path"]).read_text())
    assert isinstance(samples, list) and len(samples) == NUM_IMAGES
    focus = {r["id"]: r["focus"] for r in read_jsonl(_shard(runs[4]) / "focus.jsonl")}
    described = {r["id"]: r["description"] for r in read_jsonl(_shard(runs[4]) / "describe.jsonl") if "error" not in r}
    for sample in samples:
        assert list(sample) == ["id", "image", "conversations"]
        assert (Path(entry["image_folder"]) / sample["image"]).is_file()
        human, gpt = sample["conversations"]
        assert list(human) == ["from", "value"] and human["from"] == "human" and gpt["from"] == "gpt"
        expected_focus = focus[sample["id"]].replace("<image>", "")
        assert human["value"] == HUMAN_PREFIX + expected_focus + ("" if expected_focus.endswith(".") else ".")
        assert human["value"].count("<image>") == 1 and "<image>" not in gpt["value"]
        assert gpt["value"] == described[sample["id"]].replace("<image>", "")
    assert [s["image"] for s in samples] == ["sub/img0.png", "img1.png", "img2.png", "sub/img3.png", "img4.png",
                                             "img5.png"]


def test_training_data_loader_accepts_the_output_unchanged(runs):
    from llava.data.mixture import load_mixture

    mixture = load_mixture(runs[4] / "final" / "extraction_data.yaml")
    assert len(mixture) == NUM_IMAGES
    assert all(entry.num_bad == 0 for entry in mixture.entries)


def test_corrupt_image_is_one_error_record_and_the_rest_succeed(runs):
    described = read_jsonl(_shard(runs[4]) / "describe.jsonl")
    errors = [r for r in described if "error" in r]
    assert len(errors) == 1 and errors[0]["image"] == "broken.png" and "cannot read image" in errors[0]["error"]
    assert len(described) == NUM_IMAGES + 1
    assert read_jsonl(runs[4] / "final" / "errors.jsonl") == [
        {"index": errors[0]["index"], "id": "toy/broken.png", "step": "describe", "error": errors[0]["error"]}]
    report = json.loads((runs[4] / "input_report.json").read_text())
    assert report["skipped_no_image"] == {"toy": 1} and report["num_errors"] == 1  # text-only sample, cut line


def test_every_index_once_and_batching_does_not_change_outputs(runs):
    for step in ("statements", "describe", "focus"):
        batched = read_jsonl(_shard(runs[4]) / f"{step}.jsonl")
        single = read_jsonl(_shard(runs[1]) / f"{step}.jsonl")
        assert sorted(r["index"] for r in batched) == list(range(NUM_IMAGES + 1))
        assert sorted(batched, key=lambda r: r["index"]) == sorted(single, key=lambda r: r["index"])
    texts = [r["description"] for r in read_jsonl(_shard(runs[4]) / "describe.jsonl") if "description" in r]
    assert len(set(texts)) == NUM_IMAGES  # outputs differ per item, so a mix-up would show


def test_description_is_the_teachers_answer_for_the_resized_image_and_paper_prompt(runs, tiny_teacher):
    """Recompute one description outside the pipeline with plain transformers."""
    from transformers import AutoModelForImageTextToText

    from llava.datagen.teachers.hf import load_model_config, load_processor

    record = next(r for r in read_jsonl(_shard(runs[4]) / "describe.jsonl") if r["image"] == "img2.png")
    statements = next(r for r in read_jsonl(_shard(runs[4]) / "statements.jsonl")
                      if r["index"] == record["index"])["statements"]
    image = Image.open(runs["root"] / "data" / "images" / "img2.png").convert("RGB").resize((512, 512),
                                                                                              Image.Resampling.BICUBIC)
    text = ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
            + DESCRIPTION_PROMPT.format(statements=statements)
            + "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
    processor = load_processor(str(tiny_teacher), load_model_config(str(tiny_teacher)))
    model = AutoModelForImageTextToText.from_pretrained(tiny_teacher).eval()
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    expected = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert record["description"] == expected


def test_status_reports_progress_per_shard(runs, capsys):
    assert run_cli("status", "--output-dir", runs[4]) == 0
    out = capsys.readouterr().out
    assert "| 0 | 7/7 | 7/7 (1 err) | 7/7 |" in out
