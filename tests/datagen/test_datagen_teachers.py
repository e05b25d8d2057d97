"""Teacher backends: request building, the image-only Qwen3-VL processor, batched generation."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from PIL import Image

from llava.datagen.teachers import Teacher, TeacherOptions, build_teacher, register_teacher, teacher_class
from llava.datagen.teachers.scene import SceneTeacher
from llava.datagen.teachers.vllm import build_vllm_requests, sampling_kwargs
from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

# The tiny tokenizer's template is Qwen3's: with thinking off it pre-fills an empty think block
# (Qwen3-VL-Instruct's template has no thinking switch and ignores the flag).
NO_THINK = "<think>\n\n</think>\n\n"
IMAGE_TURN = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{p}<|im_end|>\n<|im_start|>assistant\n" + NO_THINK
TEXT_TURN = "<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n" + NO_THINK


def _images(n):
    return [Image.new("RGB", (512, 512), (37 * k % 256, 120, 255 - 29 * k % 256)) for k in range(n)]


def test_vllm_requests_are_chat_rendered_with_the_image_attached():
    tokenizer = build_tiny_qwen3_tokenizer()
    images = _images(2)
    requests = build_vllm_requests(tokenizer, ["Describe it.", "And this?"], images)
    assert requests == [
        {"prompt": IMAGE_TURN.format(p="Describe it."), "multi_modal_data": {"image": images[0]}},
        {"prompt": IMAGE_TURN.format(p="And this?"), "multi_modal_data": {"image": images[1]}},
    ]
    assert requests[1]["multi_modal_data"]["image"] is images[1]
    assert build_vllm_requests(tokenizer, ["Q?"]) == [{"prompt": TEXT_TURN.format(p="Q?")}]
    assert build_vllm_requests(tokenizer, ["Q?"], content_parts=False) == [{"prompt": TEXT_TURN.format(p="Q?")}]
    with pytest.raises(ValueError, match="1 prompts but 2 images"):
        build_vllm_requests(tokenizer, ["Q?"], images)
    assert sampling_kwargs(64, 0.0, 0.8, 1) == {"max_tokens": 64, "temperature": 0.0}
    assert sampling_kwargs(64, 0.7, 0.8, 1) == {"max_tokens": 64, "temperature": 0.7, "top_p": 0.8, "seed": 1}


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_backend_without_vllm_says_how_to_install():
    with pytest.raises(ImportError, match=r"pip install 'llava-extract-think\[vllm\]'"):
        build_teacher("vllm", TeacherOptions(model="whatever"))


class _NotATeacher:
    pass


def test_backend_registry_by_name_and_import_path():
    assert teacher_class("scene") is SceneTeacher
    assert teacher_class("llava.datagen.teachers.scene:SceneTeacher") is SceneTeacher
    register_teacher("scene-alias", SceneTeacher)
    assert isinstance(build_teacher("scene-alias", TeacherOptions()), SceneTeacher)
    with pytest.raises(ValueError, match="unknown teacher backend 'nope'"):
        teacher_class("nope")
    with pytest.raises(ValueError, match="cannot import"):
        teacher_class("llava.datagen.no_such_module:X")
    with pytest.raises(ValueError, match="not a subclass"):
        teacher_class(f"{__name__}:_NotATeacher")


def test_scene_teacher_answers_from_the_scene_graph():
    scene = {"description": "A red circle.", "statements": {"Q1?": "The circle is red."},
             "focus": {"Q1?": "the colour of the circle"}}
    meta = {"scene": scene}
    teacher = SceneTeacher()
    out = teacher.generate_text(["p", "p"], 8, [
        {"step": "statements", "metadata": meta, "qa_pairs": [("Q1?", "red"), ("How many circles?", "2")]},
        {"step": "focus", "metadata": meta, "question": "How many circles?"}])
    assert out == ['The circle is red.\nThe answer to "How many circles?" is 2.',
                   "Contents to observe: the number of objects of each kind"]
    assert teacher.generate_with_images(["p"], [None], 8, [{"step": "describe", "metadata": meta}]) == ["A red circle."]
    with pytest.raises(ValueError, match="no `description`"):
        teacher.generate_with_images(["p"], [None], 8, [{"step": "describe", "metadata": {"scene": {}}}])
    with pytest.raises(ValueError, match="needs a `scene` mapping"):
        teacher.generate_text(["p"], 8, [{"step": "statements", "metadata": {}, "qa_pairs": []}])


def test_image_only_processor_runs_the_real_qwen3_vl_processing(tiny_teacher):
    from transformers import AutoImageProcessor, Qwen3VLProcessor

    from llava.datagen.teachers.hf import load_model_config, load_processor

    processor = load_processor(str(tiny_teacher), load_model_config(str(tiny_teacher)))
    assert isinstance(processor, Qwen3VLProcessor)
    images = _images(2)
    texts = [IMAGE_TURN.format(p="short"), IMAGE_TURN.format(p="a somewhat longer prompt here")]
    processor.tokenizer.padding_side = "left"
    batch = processor(text=texts, images=images, padding=True, return_tensors="pt")
    reference = AutoImageProcessor.from_pretrained(tiny_teacher)(images, return_tensors="pt")
    torch.testing.assert_close(batch["pixel_values"], reference["pixel_values"])
    assert torch.equal(batch["image_grid_thw"], reference["image_grid_thw"])
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    per_image = (reference["image_grid_thw"].prod(-1) // 4).tolist()  # 2x2 patch merge
    assert ((batch["input_ids"] == image_id).sum(-1)).tolist() == per_image
    assert torch.equal(batch["mm_token_type_ids"], (batch["input_ids"] == image_id).long())
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][:, -1].all()  # left padding


def test_hf_teacher_batches_like_single_calls_and_plain_generate(tiny_teacher):
    """Batched, left-padded generation gives each prompt the same greedy output as alone, and the
    same as transformers' own generate on the hand-written chat text."""
    from transformers import AutoModelForImageTextToText

    from llava.datagen.teachers.hf import HFTeacher

    teacher = build_teacher("hf", TeacherOptions(model=str(tiny_teacher)))
    assert isinstance(teacher, HFTeacher) and teacher.model.dtype == torch.float32
    prompts = ["Describe the image.", "What colour is the large circle at the top left of the picture?", "Hi"]
    images = _images(3)
    batched = teacher.generate_with_images(prompts, images, 12)
    single = [teacher.generate_with_images([p], [im], 12)[0] for p, im in zip(prompts, images)]
    assert batched == single
    assert len(set(batched)) == 3  # the outputs depend on the input, so the comparison can fail

    text_batched = teacher.generate_text(prompts, 12)
    assert text_batched == [teacher.generate_text([p], 12)[0] for p in prompts]

    model = AutoModelForImageTextToText.from_pretrained(tiny_teacher).eval()
    inputs = teacher.processor(text=[IMAGE_TURN.format(p=prompts[1])], images=[images[1]], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    expected = teacher.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert batched[1] == expected


def test_text_only_teacher_refuses_images(tmp_path):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tiny_qwen3_tokenizer(tmp_path)
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16)
    Qwen3ForCausalLM(config).save_pretrained(tmp_path)
    teacher = build_teacher("hf", TeacherOptions(model=str(tmp_path)))
    assert not teacher.supports_images
    assert len(teacher.generate_text(["What is shown?", "Q"], 4)) == 2
    with pytest.raises(ValueError, match="text-only"):
        teacher.generate_with_images(["p"], _images(1), 4)


def test_wrong_model_path_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="pass --model a local folder"):
        build_teacher("hf", TeacherOptions(model=str(tmp_path / "missing")))


def test_teacher_interface_is_two_methods():
    class Echo(Teacher):
        def generate_text(self, prompts, max_new_tokens, contexts=None):
            return [p[::-1] for p in prompts]

    assert Echo.from_options(TeacherOptions()).generate_text(["ab"], 4) == ["ba"]


def test_focus_step_can_use_a_separate_text_llm(tmp_path, tiny_teacher):
    """`--focus-model` runs the stage-0 prompt through a text-only Qwen3 while the VLM does the rest."""
    from datagen_helpers import FAST_LIMITS, make_vqa, read_jsonl, run_cli
    from transformers import Qwen3Config, Qwen3ForCausalLM

    text_lm = tmp_path / "text-lm"
    tokenizer = build_tiny_qwen3_tokenizer(text_lm)
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, initializer_range=0.5)
    Qwen3ForCausalLM(config).save_pretrained(text_lm)
    listing = make_vqa(tmp_path / "data", num_images=2, extras=False)
    out = tmp_path / "out"
    assert run_cli("run", "--datasets", listing, "--output-dir", out, "--model", tiny_teacher, "--steps", "focus",
                   "--focus-model", text_lm, "--no-progress", *FAST_LIMITS) == 0
    manifest = json.loads((out / "shard-00000-of-00001" / "manifest.json").read_text())
    assert manifest["steps"]["focus"]["settings"]["teacher"]["model"] == str(text_lm)
    assert [r["index"] for r in read_jsonl(out / "shard-00000-of-00001" / "focus.jsonl")] == [0, 1]
