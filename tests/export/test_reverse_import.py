"""Importing a transformers-native LlavaOnevision folder into the LLaVA-NeXT layout.

native -> LLaVA-NeXT -> native must give back the same tensors, config and processor files bit for
bit, and the imported LLaVA-NeXT checkpoint must compute what transformers computes on the native one.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.export.helpers import load_native_processor, test_image


@pytest.fixture(scope="module")
def round_trip(exported, tmp_path_factory):
    from llava.export import export

    root = tmp_path_factory.mktemp("reverse")
    imported = export(exported["hf"], root / "imported", formats=("llava",))["llava"]
    again = export(imported, root / "again", formats=("hf",))["hf"]
    return exported["hf"], imported, again


def test_round_trip_is_bit_exact(round_trip):
    native, _, again = round_trip
    a, b = load_file(str(native / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    for name in ("config.json", "preprocessor_config.json", "processor_config.json", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        assert (native / name).read_bytes() == (again / name).read_bytes(), name


def test_imported_checkpoint_matches_transformers(round_trip):
    from transformers import AutoModelForImageTextToText

    from llava.constants import IMAGE_TOKEN_INDEX
    from llava.mm_utils import process_images, tokenizer_image_token
    from llava.model.builder import load_pretrained_model

    native, imported, _ = round_trip
    config = json.loads((imported / "config.json").read_text())
    assert config["model_type"] == "llava_qwen_3" and config["architectures"] == ["LlavaQwen3ForCausalLM"]
    assert config["image_grid_pinpoints"][1] == [128, 64]  # back to (w, h)
    tokenizer, model, image_processor, _ = load_pretrained_model(str(imported), device_map="cpu",
                                                                 torch_dtype="float32", attn_implementation="eager")
    hf = AutoModelForImageTextToText.from_pretrained(str(native), dtype=torch.float32,
                                                     attn_implementation="eager").eval()
    processor = load_native_processor(native)
    image = test_image(120, 100, seed=11)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(images=[image], text=[text], return_tensors="pt")
    input_ids = tokenizer_image_token(text, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt")[None]
    pixels = process_images([image], image_processor, model.config)
    with torch.no_grad():
        ours = model(input_ids=input_ids, images=list(pixels), image_sizes=[image.size]).logits
        theirs = hf(**inputs).logits
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-4)


def test_native_source_rejects_other_language_models(tmp_path):
    from llava.model.hf_mapping import hf_config_to_llava_next

    with pytest.raises(ValueError, match="only Qwen3"):
        hf_config_to_llava_next({"model_type": "llava_onevision", "vision_config": {"image_size": 384},
                                 "text_config": {"model_type": "qwen2"}}, dtype=None)
