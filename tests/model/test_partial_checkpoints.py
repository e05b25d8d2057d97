"""model_base loading: LoRA adapters (merged) and projector-only checkpoints."""
import copy
import json

import pytest
import torch
from safetensors.torch import save_file

from llava.constants import IMAGE_TOKEN_INDEX
from llava.model.builder import load_pretrained_model
from llava.tiny import models as tiny
from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer


def test_lora_adapter_on_llava_checkpoint_is_merged(tmp_path, tiny_checkpoint):
    from peft import LoraConfig, get_peft_model

    _, base, _, _ = load_pretrained_model(str(tiny_checkpoint), None, None, device_map="cpu", torch_dtype="float32")
    peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # make the adapter matter
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    (adapter / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    build_tiny_qwen3_tokenizer(adapter)
    merged_reference = peft_model.merge_and_unload()

    _, merged, _, _ = load_pretrained_model(str(adapter), str(tiny_checkpoint), None, device_map="cpu",
                                            torch_dtype="float32")
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, 7]])
    images = [torch.randn(7, 3, 64, 64)]
    with torch.no_grad():
        want = merged_reference(input_ids=ids, images=images, image_sizes=[(150, 100)]).logits
        got = merged(input_ids=ids, images=images, image_sizes=[(150, 100)]).logits
        plain = base(input_ids=ids, images=images, image_sizes=[(150, 100)]).logits
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, plain)


def test_projector_only_checkpoint(tmp_path, tiny_tower_dir):
    llm = tiny.save_tiny_qwen3_llm(tmp_path / "llm")
    stage1 = tmp_path / "stage1"
    stage1.mkdir()
    model = tiny.build_tiny_llava_model(tiny_tower_dir, "qwen3", seed=3)
    projector = {f"model.mm_projector.{k}": v.clone() for k, v in model.get_model().mm_projector.state_dict().items()}
    save_file(projector, str(stage1 / "mm_projector.safetensors"))
    (stage1 / "config.json").write_text(json.dumps(model.config.to_dict()))
    _, loaded, _, _ = load_pretrained_model(str(stage1), str(llm), None, device_map="cpu", torch_dtype="float32")
    for key, value in projector.items():
        assert torch.equal(loaded.state_dict()[key], value)
    from transformers import Qwen3ForCausalLM

    plain = Qwen3ForCausalLM.from_pretrained(str(llm))
    assert torch.equal(loaded.model.layers[1].mlp.up_proj.weight, plain.model.layers[1].mlp.up_proj.weight)
    from transformers import SiglipVisionModel

    tower = SiglipVisionModel.from_pretrained(str(tiny_tower_dir))
    assert torch.equal(loaded.get_vision_tower().vision_tower.vision_model.encoder.layers[0].self_attn.q_proj.weight,
                       tower.encoder.layers[0].self_attn.q_proj.weight)


def test_model_base_without_adapter_or_projector_is_an_error(tmp_path, tiny_checkpoint):
    with pytest.raises(FileNotFoundError, match="neither adapter_config.json"):
        load_pretrained_model(str(tiny_checkpoint), str(tiny_checkpoint), None, device_map="cpu",
                              torch_dtype="float32")
