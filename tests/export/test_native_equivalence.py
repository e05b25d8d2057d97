"""The exported transformers-native folder behaves exactly like this project's model.

Reference: transformers' own `LlavaOnevisionForConditionalGeneration` + `LlavaOnevisionProcessor`
loaded from the export with the Auto classes (trust_remote_code off), against this project's
`load_pretrained_model` on the source checkpoint: same prompt text, same pixels, same logits,
same greedy tokens, for a non-square anyres image and for a two-image prompt.
"""
from __future__ import annotations

import json

import pytest
import torch

from tests.export.helpers import load_native_processor, test_image

PROMPT = "Describe the image."
ANYRES_SIZE = (150, 90)  # (w, h): several tiles, unpadding and the anyres_max downsample


@pytest.fixture(scope="module")
def project(tiny_checkpoint):
    from llava.model.builder import load_pretrained_model

    tokenizer, model, image_processor, _ = load_pretrained_model(str(tiny_checkpoint), device_map="cpu",
                                                                 torch_dtype="float32", attn_implementation="eager")
    return tokenizer, model.eval(), image_processor


@pytest.fixture(scope="module")
def native(exported):
    from transformers import AutoModelForImageTextToText

    model, info = AutoModelForImageTextToText.from_pretrained(str(exported["hf"]), dtype=torch.float32,
                                                              attn_implementation="eager", output_loading_info=True)
    return model.eval(), info, load_native_processor(exported["hf"])


def _training_prompt(n_images: int) -> str:
    from llava.conversation import conv_templates

    conv = conv_templates["qwen_1_5"].copy()
    conv.append_message(conv.roles[0], "<image>\n" * n_images + PROMPT)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def _messages(n_images: int) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": PROMPT}]}]


def _project_inputs(project, images, mode):
    from types import SimpleNamespace

    from llava.constants import IMAGE_TOKEN_INDEX
    from llava.mm_utils import process_images, tokenizer_image_token

    tokenizer, model, image_processor = project
    cfg = SimpleNamespace(image_aspect_ratio=mode, image_grid_pinpoints=model.config.image_grid_pinpoints)
    pixels = process_images(images, image_processor, cfg)
    input_ids = tokenizer_image_token(_training_prompt(len(images)), tokenizer, IMAGE_TOKEN_INDEX,
                                      return_tensors="pt")[None]
    return input_ids, list(pixels), [img.size for img in images]


def _native_inputs(native, images):
    _, _, processor = native
    text = processor.apply_chat_template(_messages(len(images)), add_generation_prompt=True)
    return processor(images=[images], text=[text], return_tensors="pt")


def test_loads_with_auto_classes_and_no_missing_keys(native, exported):
    from transformers import AutoConfig, LlavaOnevisionForConditionalGeneration

    model, info, processor = native
    assert type(model) is LlavaOnevisionForConditionalGeneration
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    cfg = AutoConfig.from_pretrained(str(exported["hf"]))
    assert cfg.vision_feature_select_strategy == "full" and cfg.vision_feature_layer == -1
    assert cfg.vision_config.vision_use_head is False and cfg.vision_config.num_hidden_layers == 2
    assert cfg.vision_aspect_ratio == "anyres_max_4"
    # pinpoints are (w, h) in LLaVA-NeXT and must be (h, w) here
    src = json.loads((exported["llava"] / "config.json").read_text())
    assert cfg.image_grid_pinpoints == [[h, w] for w, h in src["image_grid_pinpoints"]]
    assert processor.image_processor.image_grid_pinpoints == cfg.image_grid_pinpoints
    tok = processor.tokenizer
    assert tok.convert_tokens_to_ids("<image>") == cfg.image_token_index == processor.image_token_id
    assert tok.convert_tokens_to_ids("<video>") == cfg.video_token_index
    assert model.get_input_embeddings().weight.shape[0] > max(cfg.image_token_index, cfg.video_token_index)


def test_chat_template_gives_the_training_prompt(native):
    _, _, processor = native
    for n in (1, 2):
        assert processor.apply_chat_template(_messages(n), add_generation_prompt=True) == _training_prompt(n)
    text_only = [{"role": "user", "content": PROMPT}]
    assert processor.apply_chat_template(text_only, add_generation_prompt=True) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"{PROMPT}<|im_end|>\n<|im_start|>assistant\n")


def test_pixels_match_for_anyres_image(project, native):
    image = test_image(*ANYRES_SIZE, seed=1)
    _, pixels, _ = _project_inputs(project, [image], "anyres_max_4")
    inputs = _native_inputs(native, [image])
    ours = pixels[0]
    theirs = inputs["pixel_values"][0][: ours.shape[0]]
    assert ours.shape == theirs.shape and ours.shape[0] > 2  # base view + several tiles
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert inputs["image_sizes"][0].tolist() == [ANYRES_SIZE[1], ANYRES_SIZE[0]]  # (h, w) on this side


@pytest.mark.parametrize("case", ["anyres", "tall", "two_images"])
def test_same_logits(project, native, case):
    images = {"anyres": [test_image(*ANYRES_SIZE, seed=1)], "tall": [test_image(70, 160, seed=8)],
              "two_images": [test_image(100, 60, seed=2), test_image(50, 80, seed=3)]}[case]
    mode = "pad" if case == "two_images" else "anyres_max_4"  # multi-image: one padded crop each, as upstream
    input_ids, pixels, sizes = _project_inputs(project, images, mode)
    inputs = _native_inputs(native, images)
    with torch.no_grad():
        ours = project[1](input_ids=input_ids, images=pixels, image_sizes=sizes).logits
        theirs = native[0](**inputs).logits
    assert ours.shape[1] == theirs.shape[1], "different number of image tokens"
    n_image_tokens = int((inputs["input_ids"] == native[0].config.image_token_index).sum())
    assert n_image_tokens > (2 * 17 - 1 if case == "two_images" else 20)
    vocab = ours.shape[-1]
    torch.testing.assert_close(theirs[..., :vocab], ours, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("case", ["anyres", "two_images"])
def test_same_greedy_generation(project, native, case):
    images = ([test_image(*ANYRES_SIZE, seed=4)] if case == "anyres"
              else [test_image(100, 60, seed=5), test_image(50, 80, seed=6)])
    mode = "anyres_max_4" if case == "anyres" else "pad"
    input_ids, pixels, sizes = _project_inputs(project, images, mode)
    inputs = _native_inputs(native, images)
    tokenizer = project[0]
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    settings = dict(max_new_tokens=12, do_sample=False, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        ours = project[1].generate(input_ids, images=pixels, image_sizes=sizes, **settings)[0].tolist()
        theirs = native[0].generate(**inputs, **settings)[0, inputs["input_ids"].shape[1]:].tolist()
    assert ours == theirs
    assert len(ours) >= 2


def test_llava_next_export_loads_back_identically(project, exported, tiny_checkpoint):
    from safetensors.torch import load_file

    from llava.model.builder import load_pretrained_model

    src = load_file(str(tiny_checkpoint / "model.safetensors"))
    out = load_file(str(exported["llava"] / "model.safetensors"))
    assert src.keys() == out.keys()
    assert all(torch.equal(src[k], out[k]) for k in src)
    _, model, image_processor, _ = load_pretrained_model(str(exported["llava"]), device_map="cpu",
                                                         torch_dtype="float32", attn_implementation="eager")
    image = test_image(*ANYRES_SIZE, seed=7)
    input_ids, pixels, sizes = _project_inputs(project, [image], "anyres_max_4")
    with torch.no_grad():
        a = project[1](input_ids=input_ids, images=pixels, image_sizes=sizes).logits
        b = model(input_ids=input_ids, images=pixels, image_sizes=sizes).logits
    assert torch.equal(a, b)
    assert image_processor.image_mean == project[2].image_mean
