"""Vision towers: chosen by config model_type, LLaVA's layer selection, weight loading."""
import importlib.util
import json

import pytest
import torch
from transformers import CLIPVisionModel, SiglipConfig, SiglipModel, SiglipVisionModel

from llava.constants import IMAGE_TOKEN_INDEX
from llava.model import vision_towers
from llava.model.vision_towers import build_vision_tower, resolve_vision_tower
from llava.tiny import models as tiny


def test_siglip_tower_is_original_minus_last_layer(tiny_tower_dir):
    tower = build_vision_tower(str(tiny_tower_dir))
    assert type(tower).__name__ == "SiglipVisionTower" and tower.is_loaded
    assert len(tower.vision_tower.vision_model.encoder.layers) == 2 and tower.config.num_hidden_layers == 2
    assert tower.num_patches_per_side == 4 and tower.image_size == 64 and tower.hidden_size == 32
    reference = SiglipVisionModel.from_pretrained(str(tiny_tower_dir)).eval()
    pixels = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = reference(pixels, output_hidden_states=True).hidden_states[-2]  # before the dropped layer
        torch.testing.assert_close(tower(pixels), expected)


def test_siglip_from_full_siglip_folder_with_4x_keys(tmp_path):
    """A full SigLIP (text + vision) saved by transformers; keys carry `vision_model.`."""
    cfg = SiglipConfig(vision_config=tiny.tiny_siglip_config().to_dict(),
                       text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                    "num_attention_heads": 2, "vocab_size": 99})
    full = SiglipModel(cfg)
    full.save_pretrained(tmp_path / "full")
    assert json.loads((tmp_path / "full" / "config.json").read_text())["model_type"] == "siglip"
    tower = build_vision_tower(str(tmp_path / "full"))
    assert torch.equal(tower.vision_tower.vision_model.encoder.layers[1].mlp.fc2.weight,
                       full.vision_model.encoder.layers[1].mlp.fc2.weight)


def test_clip_tower_matches_llava_selection(tmp_path):
    folder = tiny.save_tiny_clip(tmp_path / "clip")
    tower = build_vision_tower(str(folder))
    assert type(tower).__name__ == "ClipVisionTower"
    reference = CLIPVisionModel.from_pretrained(str(folder)).eval()
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = reference(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
        torch.testing.assert_close(tower(pixels), expected)
    assert tower.num_patches == 16


def test_llava_model_with_clip_tower_runs(tmp_path):
    folder = tiny.save_tiny_clip(tmp_path / "clip")
    model = tiny.build_tiny_llava_model(folder, "qwen3").train()
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, 7]])
    out = model(input_ids=ids, labels=ids, images=[torch.randn(7, 3, 64, 64)], image_sizes=[(150, 100)])
    out.loss.backward()
    assert model.get_vision_tower().vision_tower.vision_model.embeddings.patch_embedding.weight.grad is not None
    model.save_pretrained(tmp_path / "ckpt")
    from llava.model.builder import load_pretrained_model
    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

    build_tiny_qwen3_tokenizer(tmp_path / "ckpt")
    _, loaded, processor, _ = load_pretrained_model(str(tmp_path / "ckpt"), None, None, device_map="cpu",
                                                    torch_dtype="float32")
    assert type(loaded.get_vision_tower()).__name__ == "ClipVisionTower"
    assert processor.crop_size["height"] == 64


def test_tower_kind_comes_from_config_not_the_path(tmp_path):
    folder = tiny.save_tiny_clip(tmp_path / "siglip-so400m-patch14-384")  # misleading name, CLIP inside
    kind, config, _ = resolve_vision_tower(str(folder))
    assert kind == "clip"
    odd = tmp_path / "tower"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "dinov2"}))
    with pytest.raises(ValueError, match="not supported"):
        resolve_vision_tower(str(odd))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_vision_tower(str(tmp_path / "missing"))


def test_known_hub_tower_offline(monkeypatch):
    """Released checkpoints name google/siglip-so400m-patch14-384; without the hub its shape is built in."""
    monkeypatch.setattr(vision_towers, "_hub_file", lambda repo, name: None)  # hub unreachable
    kind, config, folder = resolve_vision_tower("google/siglip-so400m-patch14-384")
    assert kind == "siglip" and folder is None
    from llava.model.vision_towers.siglip import drop_last_layer

    kept = drop_last_layer(config)
    assert (kept["num_hidden_layers"], kept["hidden_size"], kept["image_size"], kept["patch_size"]) == (26, 1152, 384, 14)
    assert 384 // 14 == 27
    with pytest.raises(FileNotFoundError, match="neither a local folder nor a reachable hub id"):
        resolve_vision_tower("someone/unknown-tower")


@pytest.mark.skipif(importlib.util.find_spec("open_clip") is None,
                    reason="open_clip_torch is not installed (it needs torchvision, which this CPU setup "
                           "does not install; `pip install -e .[openclip]` enables this test)")
def test_open_clip_tower_runs():
    tower = build_vision_tower("open_clip:ViT-B-16", load_weights=False)
    pixels = torch.randn(1, 3, tower.image_size, tower.image_size)
    with torch.no_grad():
        features = tower(pixels)
    assert features.shape == (1, tower.num_patches, tower.hidden_size)


def test_open_clip_missing_gives_install_hint():
    if importlib.util.find_spec("open_clip") is not None:
        pytest.skip("open_clip is installed")
    with pytest.raises(ImportError, match=r"\[openclip\]"):
        build_vision_tower("open_clip:ViT-B-16", load_weights=False)
