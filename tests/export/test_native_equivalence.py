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

from tests.export.helpers import (PROMPT, greedy_pair, load_native, load_project, logits_pair, messages,
                                  native_inputs, project_inputs, test_image, training_prompt)

ANYRES_SIZE = (150, 90)  # (w, h): several tiles, unpadding and the anyres_max downsample


@pytest.fixture(scope="module")
def project(tiny_checkpoint):
    return load_project(tiny_checkpoint)


@pytest.fixture(scope="module")
def native(exported):
    return load_native(exported["hf"])


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


def test_chat_template_gives_thetraining_prompt(native):
    _, _, processor = native
    for n in (1, 2):
        assert processor.apply_chat_template(messages(n), add_generation_prompt=True) == training_prompt(n)
    text_only = [{"role": "user", "content": PROMPT}]
    assert processor.apply_chat_template(text_only, add_generation_prompt=True) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"{PROMPT}<|im_end|>\n<|im_start|>assistant\n")


def test_pixels_match_for_anyres_image(project, native):
    image = test_image(*ANYRES_SIZE, seed=1)
    _, pixels, _ = project_inputs(project, [image], "anyres_max_4")
    inputs = native_inputs(native, [image])
    ours = pixels[0]
    theirs = inputs["pixel_values"][0][: ours.shape[0]]
    assert ours.shape == theirs.shape and ours.shape[0] > 2  # base view + several tiles
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert inputs["image_sizes"][0].tolist() == [ANYRES_SIZE[1], ANYRES_SIZE[0]]  # (h, w) on this side


def _images(case: str, seed: int):
    return {"anyres": [test_image(*ANYRES_SIZE, seed=seed)], "tall": [test_image(70, 160, seed=seed)],
            "two_images": [test_image(100, 60, seed=seed), test_image(50, 80, seed=seed + 1)]}[case]


def _mode(case: str) -> str:
    return "pad" if case == "two_images" else "anyres_max_4"  # multi-image: one padded crop each, as upstream


@pytest.mark.parametrize("case", ["anyres", "tall", "two_images"])
def test_same_logits(project, native, case):
    ours, theirs, inputs = logits_pair(project, native, _images(case, seed=1), _mode(case))
    assert ours.shape[1] == theirs.shape[1], "different number of image tokens"
    n_image_tokens = int((inputs["input_ids"] == native[0].config.image_token_index).sum())
    assert n_image_tokens > (2 * 17 - 1 if case == "two_images" else 20)
    torch.testing.assert_close(theirs[..., :ours.shape[-1]], ours, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("case", ["anyres", "two_images"])
def test_same_greedy_generation(project, native, case):
    ours, theirs = greedy_pair(project, native, _images(case, seed=4), _mode(case))
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
    input_ids, pixels, sizes = project_inputs(project, [image], "anyres_max_4")
    with torch.no_grad():
        a = project[1](input_ids=input_ids, images=pixels, image_sizes=sizes).logits
        b = model(input_ids=input_ids, images=pixels, image_sizes=sizes).logits
    assert torch.equal(a, b)
    assert image_processor.image_mean == project[2].image_mean
