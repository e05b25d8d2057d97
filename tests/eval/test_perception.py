"""Stage 1 on both checkpoint layouts: format detection, batching, caching, lmms-eval samples."""
import json

import pytest

from llava.eval.benchmarks import load_benchmark
from llava.eval.perception import (PerceptionSettings, checkpoint_format, load_perception,
                                   qwen_1_5_prompt)
from llava.eval.pipeline import EvalRun
from llava.prompts import PromptSet


def test_format_detection(tmp_path, tiny_perception):
    llava_next, native = tiny_perception
    assert checkpoint_format(llava_next) == "llava-next"
    assert checkpoint_format(native) == "hf-native"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    with pytest.raises(ValueError, match="neither"):
        checkpoint_format(tmp_path / "other")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        checkpoint_format(tmp_path / "missing")


def test_prompt_is_the_qwen_1_5_template():
    from llava.conversation import conv_templates

    conv = conv_templates["qwen_1_5"].copy()
    conv.append_message(conv.roles[0], "<image>\nDescribe it.")
    conv.append_message(conv.roles[1], None)
    assert qwen_1_5_prompt("Describe it.") == conv.get_prompt()


@pytest.fixture(scope="module")
def runners(tiny_perception):
    settings = PerceptionSettings(dtype="fp32", device="cpu")
    return [load_perception(str(p), settings) for p in tiny_perception]


def _images_and_texts():
    from PIL import Image

    images = [Image.new("RGB", (64 + 50 * i, 48 + 20 * i), (255, 40 * i, 0)) for i in range(4)]
    texts = [PromptSet().extraction_instruction("the " + "colour " * i) for i in range(4)]
    return images, texts


def test_batched_equals_single_and_native_equals_llava_next(runners):
    """Left-padded batches give the batch-1 outputs, and both layouts agree (transformers'
    LlavaOnevision is the independent reference for this package's LLaVA-NeXT model)."""
    images, texts = _images_and_texts()
    outputs = []
    for runner in runners:
        batched = runner.generate(images, texts, 10)
        single = [runner.generate([im], [t], 10)[0] for im, t in zip(images, texts)]
        assert batched == single
        outputs.append(batched)
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) > 1 and all(outputs[0])   # outputs depend on the input


def test_stage1_artifact_resume_and_lmms_samples(tmp_path, mc_benchmark, tiny_perception, runners):
    bench = load_benchmark("jsonl", str(mc_benchmark))
    run = EvalRun(bench, tmp_path / "results", PromptSet())
    focus = {q.index: f"the colour of shape {q.index}" for q in bench.questions}
    settings = PerceptionSettings(max_new_tokens=6, batch_size=4, dtype="fp32", device="cpu")
    records, path = run.perception(str(tiny_perception[0]), "extract", settings, focus, "file-x",
                                   runner=runners[0])
    assert path.is_relative_to(tmp_path / "results" / "bench" / "perception")
    assert "extract-file-x-v1-" in path.name
    assert [r["index"] for r in records] == [q.index for q in bench.questions]
    assert records[2]["prompt"] == PromptSet().extraction_instruction("the colour of shape q2")
    assert records[2]["prompt"].endswith("Especially, pay attention to the colour of shape q2.")

    class Exploding:
        def generate(self, *a, **k):
            raise AssertionError("a finished stage must not run the model again")

    again, path2 = run.perception(str(tiny_perception[0]), "extract", settings, focus, "file-x",
                                  runner=Exploding())
    assert path2 == path and again == records
    samples = [json.loads(l) for l in path.with_name(path.stem + ".lmms_samples.jsonl").read_text().splitlines()]
    assert [s["doc_id"] for s in samples] == list(range(6))
    assert samples[1]["filtered_resps"] == [records[1]["description"]] and samples[1]["target"] == "B"
    # A different mode is a different artifact: the caption prompt, no focus.
    cap, cap_path = run.perception(str(tiny_perception[0]), "caption", settings, runner=runners[0])
    assert cap_path != path and cap[0]["prompt"] == PromptSet().caption_prompt


def test_missing_image_becomes_a_reported_error_record(tmp_path, mc_benchmark, runners, capsys):
    (mc_benchmark.parent / "imgs" / "3.png").unlink()
    bench = load_benchmark("jsonl", str(mc_benchmark))
    run = EvalRun(bench, tmp_path / "results", PromptSet())
    settings = PerceptionSettings(max_new_tokens=4, batch_size=4, dtype="fp32", device="cpu")
    records, _ = run.perception("ckpt", "caption", settings, runner=runners[0])
    assert "3.png" in records[3]["error"] and records[3]["description"] == ""
    assert all("error" not in r for i, r in enumerate(records) if i != 3)
    assert "1 question(s) had no usable image" in capsys.readouterr().out
