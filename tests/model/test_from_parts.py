"""build_perception_model: LLM checkpoint + vision tower + fresh projector/newline."""
import json

import pytest
import torch
from transformers import Qwen3ForCausalLM, SiglipVisionModel

from llava.constants import IMAGE_TOKEN_INDEX
from llava.model.from_parts import build_perception_model
from llava.model.builder import load_pretrained_model
from llava.tiny import models as tiny


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    return tiny.save_tiny_qwen3_llm(root / "llm"), tiny.save_tiny_siglip(root / "tower")


def test_build_loads_llm_and_tower_weights(parts):
    llm_dir, tower_dir = parts
    model, tokenizer = build_perception_model(llm_dir, tower_dir, image_aspect_ratio="anyres_max_4",
                                              image_grid_pinpoints="(1x1),...,(3x3)", torch_dtype="float32", seed=0)
    llm = Qwen3ForCausalLM.from_pretrained(str(llm_dir))
    tower = SiglipVisionModel.from_pretrained(str(tower_dir))
    ours = model.state_dict()
    for k, v in llm.state_dict().items():
        if k != "lm_head.weight":
            assert torch.equal(ours[k], v), k
    for k, v in tower.state_dict().items():
        if k.startswith("encoder.layers.2") or k.startswith("head."):
            continue
        assert torch.equal(ours["model.vision_tower.vision_tower.vision_model." + k], v), k
    assert model.config.image_grid_pinpoints == tiny.tiny_grid_pinpoints()
    assert model.config.vision_config["num_hidden_layers"] == 2
    assert model.config.tokenizer_model_max_length == tokenizer.model_max_length
    assert model.get_vision_tower().image_processor.crop_size["height"] == 64
    # seeded fresh projector: same seed, same weights; different seed, different weights
    again, _ = build_perception_model(llm_dir, tower_dir, torch_dtype="float32", seed=0,
                                      image_aspect_ratio="anyres_max_4", image_grid_pinpoints="(1x1),...,(3x3)")
    other, _ = build_perception_model(llm_dir, tower_dir, torch_dtype="float32", seed=1,
                                      image_aspect_ratio="anyres_max_4", image_grid_pinpoints="(1x1),...,(3x3)")
    assert torch.equal(again.get_model().mm_projector[0].weight, model.get_model().mm_projector[0].weight)
    assert not torch.equal(other.get_model().mm_projector[0].weight, model.get_model().mm_projector[0].weight)
    assert torch.equal(again.get_model().image_newline, model.get_model().image_newline)


def test_built_model_trains_saves_and_reloads(parts, tmp_path):
    llm_dir, tower_dir = parts
    model, tokenizer = build_perception_model(llm_dir, tower_dir, image_aspect_ratio="anyres_max_4",
                                              image_grid_pinpoints="(1x1),...,(3x3)", torch_dtype="float32", seed=0)
    model.train()
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, 7]])
    out = model(input_ids=ids, labels=ids, images=[torch.randn(7, 3, 64, 64)], image_sizes=[(150, 100)])
    out.loss.backward()
    model.save_pretrained(tmp_path / "stage1")
    tokenizer.save_pretrained(tmp_path / "stage1")
    config = json.loads((tmp_path / "stage1" / "config.json").read_text())
    assert config["architectures"] == ["LlavaQwen3ForCausalLM"] and config["mm_vision_tower"] == str(tower_dir)
    _, loaded, _, _ = load_pretrained_model(str(tmp_path / "stage1"), None, None, device_map="cpu",
                                            torch_dtype="float32")
    model.eval()
    with torch.no_grad():
        a = model(input_ids=ids, images=[torch.ones(7, 3, 64, 64)], image_sizes=[(150, 100)]).logits
        b = loaded(input_ids=ids, images=[torch.ones(7, 3, 64, 64)], image_sizes=[(150, 100)]).logits
    assert torch.equal(a, b)


def test_qwen2_llm_and_bf16(parts, tmp_path):
    llm2 = tiny.save_tiny_qwen3_llm(tmp_path / "llm2", llm="qwen2")
    model, _ = build_perception_model(llm2, parts[1], torch_dtype="bfloat16", image_aspect_ratio="anyres_max_4",
                                      image_grid_pinpoints="(1x1),...,(3x3)")
    assert type(model).__name__ == "LlavaQwenForCausalLM"
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_refuses_llava_checkpoint_as_llm(tiny_checkpoint, parts):
    with pytest.raises(ValueError, match="already a LLaVA checkpoint"):
        build_perception_model(tiny_checkpoint, parts[1])
