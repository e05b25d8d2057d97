"""Loading checkpoints in the exact LLaVA-NeXT layout, written here by hand (raw key names,
transformers-4.x spelling for the tower), and save -> load round trips."""
import json
import shutil

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoConfig, Qwen3Config, Qwen3ForCausalLM, SiglipVisionConfig, SiglipVisionModel

import llava  # noqa: F401  (registers the configs with AutoConfig)
from llava.constants import IMAGE_TOKEN_INDEX
from llava.model.builder import load_pretrained_model
from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

from model_helpers import random_pil

TOWER_LAYERS = 3  # original tower; LLaVA-OneVision keeps 2


def write_llava_next_checkpoint(root, *, vision_key_prefix="vision_model.", with_lm_head=False):
    """Independent writer: transformers' own Qwen3/SigLIP modules give shapes, names are spelled out."""
    torch.manual_seed(1)
    tower_dir, ckpt = root / "tower_src", root / "ckpt_abc"
    tok = build_tiny_qwen3_tokenizer()
    vision_cfg = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=TOWER_LAYERS,
                                    num_attention_heads=2, image_size=64, patch_size=16)
    SiglipVisionModel(vision_cfg).save_pretrained(tower_dir)
    text_cfg = Qwen3Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True,
                           max_position_embeddings=1024)
    llm = Qwen3ForCausalLM(text_cfg)
    tensors = {k: v.clone() for k, v in llm.state_dict().items() if with_lm_head or k != "lm_head.weight"}
    tower = SiglipVisionModel(vision_cfg)
    for k, v in tower.state_dict().items():  # transformers 5 keys: embeddings.*, encoder.layers.N.*, post_layernorm.*
        if k.startswith("encoder.layers.") and int(k.split(".")[2]) >= TOWER_LAYERS - 1:
            continue  # LLaVA-OneVision drops the last layer
        if k.startswith("head."):
            continue
        tensors["model.vision_tower.vision_tower." + vision_key_prefix + k] = v.clone()
    tensors["model.mm_projector.0.weight"] = torch.randn(64, 32) * 0.1
    tensors["model.mm_projector.0.bias"] = torch.randn(64) * 0.1
    tensors["model.mm_projector.2.weight"] = torch.randn(64, 64) * 0.1
    tensors["model.mm_projector.2.bias"] = torch.randn(64) * 0.1
    tensors["model.image_newline"] = torch.randn(64) * 0.1
    ckpt.mkdir()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(ckpt / "model.safetensors"), metadata={"format": "pt"})
    config = text_cfg.to_dict()
    config.update({
        "architectures": ["LlavaQwen3ForCausalLM"], "model_type": "qwen3",
        "mm_vision_tower": str(tower_dir), "mm_hidden_size": 32, "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "mm_patch_merge_type": "spatial_unpad",
        "image_aspect_ratio": "anyres_max_4",
        "image_grid_pinpoints": [[i * 64, j * 64] for i in (1, 2, 3) for j in (1, 2, 3)],
        "mm_newline_position": "grid", "mm_spatial_pool_mode": "bilinear",
        "mm_tunable_parts": "mm_vision_tower,mm_mlp_adapter,mm_language_model", "mm_vision_tower_lr": 2e-6,
        "mm_projector_lr": None, "mm_use_im_start_end": False, "mm_use_im_patch_token": False,
        "tokenizer_padding_side": "right", "tokenizer_model_max_length": 1024, "use_mm_proj": True,
    })
    config["eos_token_id"] = tok.convert_tokens_to_ids("<|im_end|>")
    (ckpt / "config.json").write_text(json.dumps(config))
    tok.save_pretrained(ckpt)
    return ckpt, tensors


@pytest.fixture(scope="module")
def hand_written(tmp_path_factory):
    root = tmp_path_factory.mktemp("handmade")
    ckpt, tensors = write_llava_next_checkpoint(root)
    assert "llava" not in str(ckpt).lower() and "qwen" not in str(ckpt).lower()
    tokenizer, model, processor, context_len = load_pretrained_model(str(ckpt), None, "anything",
                                                                     device_map="cpu", torch_dtype="float32",
                                                                     attn_implementation="sdpa")
    return ckpt, tensors, tokenizer, model, processor, context_len


def _prompt_ids(tokenizer, question, with_image=True):
    text = "<|im_start|>user\n" + ("<image>\n" if with_image else "") + question + "<|im_end|>\n<|im_start|>assistant\n"
    ids = []
    for i, chunk in enumerate(text.split("<image>")):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        ids += tokenizer(chunk, add_special_tokens=False).input_ids
    return torch.tensor(ids)


def _pixels(processor, image):
    """Anyres crops with transformers' LlavaOnevision processor (the reference preprocessing)."""
    from transformers import LlavaOnevisionImageProcessorPil
    from transformers.models.llava_onevision.modeling_llava_onevision import image_size_to_num_patches

    pinpoints = [[i * 64, j * 64] for i in (1, 2, 3) for j in (1, 2, 3)]
    p = LlavaOnevisionImageProcessorPil(size={"height": 64, "width": 64}, image_grid_pinpoints=pinpoints,
                                        image_mean=list(processor.image_mean), image_std=list(processor.image_std))
    out = p([image], return_tensors="pt")
    n = image_size_to_num_patches(out["image_sizes"][0].tolist(), pinpoints, 64)
    return out["pixel_values"][0, :n]


def test_hand_written_checkpoint_loads_exact_weights(hand_written):
    ckpt, tensors, tokenizer, model, processor, context_len = hand_written
    assert type(model).__name__ == "LlavaQwen3ForCausalLM"
    state = model.state_dict()
    for key, value in tensors.items():
        assert torch.equal(state[key], value), key
    assert len(model.get_vision_tower().vision_tower.vision_model.encoder.layers) == TOWER_LAYERS - 1
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied
    assert processor.crop_size["height"] == 64 and tuple(processor.image_mean) == (0.5, 0.5, 0.5)
    assert context_len == 1024


def test_both_vision_key_spellings_load(tmp_path):
    ckpt, tensors = write_llava_next_checkpoint(tmp_path, vision_key_prefix="")  # transformers-5 spelling
    _, model, _, _ = load_pretrained_model(str(ckpt), None, None, device_map="cpu", torch_dtype="float32")
    key = "model.vision_tower.vision_tower.encoder.layers.1.mlp.fc1.weight"
    assert torch.equal(model.get_vision_tower().vision_tower.vision_model.encoder.layers[1].mlp.fc1.weight, tensors[key])


def test_autoconfig_after_import_llava(hand_written, tiny_checkpoint):
    config = AutoConfig.from_pretrained(str(hand_written[0]))
    assert config.mm_vision_tower and config.image_aspect_ratio == "anyres_max_4"
    config = AutoConfig.from_pretrained(str(tiny_checkpoint))
    assert type(config).__name__ == "LlavaQwen3Config" and config.model_type == "llava_qwen_3"


def test_generate_greedy_sampling_and_batched_left_padding(hand_written):
    _, _, tokenizer, model, processor, _ = hand_written
    images = [random_pil(150, 100, seed=5), random_pil(40, 120, seed=6)]
    prompts = [_prompt_ids(tokenizer, "What is in the picture?"), _prompt_ids(tokenizer, "Count.")]
    crops = [_pixels(processor, im) for im in images]
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.pad_token_id
    kw = dict(max_new_tokens=6, do_sample=False, pad_token_id=pad, eos_token_id=-1)

    single = [model.generate(p[None], images=[c], image_sizes=[im.size], **kw)[0] for p, c, im in zip(prompts, crops, images)]
    width = max(len(p) for p in prompts)
    ids = torch.full((2, width), pad)
    mask = torch.zeros(2, width, dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding, as lmms-eval does
        ids[i, width - len(p):] = p
        mask[i, width - len(p):] = 1
    batched = model.generate(ids, attention_mask=mask, images=crops, image_sizes=[im.size for im in images], **kw)
    assert batched.shape == (2, 6)
    for i in range(2):
        assert torch.equal(batched[i], single[i])
    # right padding is re-padded to the left by the model: same answer
    ids_r = torch.full((2, width), pad)
    mask_r = torch.zeros(2, width, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids_r[i, :len(p)] = p
        mask_r[i, :len(p)] = 1
    assert torch.equal(model.generate(ids_r, attention_mask=mask_r, images=crops,
                                      image_sizes=[im.size for im in images], **kw), batched)

    # greedy == argmax of a full forward on the prompt for the first token
    with torch.no_grad():
        logits = model(input_ids=prompts[0][None], images=[crops[0]], image_sizes=[images[0].size]).logits
    assert single[0][0] == logits[0, -1].argmax()

    torch.manual_seed(0)
    sampled = model.generate(ids, attention_mask=mask, images=crops, image_sizes=[im.size for im in images],
                             max_new_tokens=6, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                             pad_token_id=pad, eos_token_id=eos)
    assert sampled.shape[0] == 2 and sampled.shape[1] <= 6
    text = tokenizer.batch_decode(sampled, skip_special_tokens=True)
    assert len(text) == 2


def test_text_only_generate(hand_written):
    _, _, tokenizer, model, _, _ = hand_written
    prompt = _prompt_ids(tokenizer, "Say something.", with_image=False)
    out = model.generate(prompt[None], max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=-1)
    with torch.no_grad():
        first = model(input_ids=prompt[None]).logits[0, -1].argmax()
    assert out.shape == (1, 4) and out[0, 0] == first


def test_missing_tower_folder_uses_stored_vision_config(tmp_path, tiny_model, make_image):
    from llava.tiny.models import build_tiny_llava_checkpoint

    ckpt = build_tiny_llava_checkpoint(tmp_path / "run1", keep_tower_folder=False)
    config = json.loads((ckpt / "config.json").read_text())
    assert config["vision_config"]["num_hidden_layers"] == 2 and config["vision_config"]["vision_use_head"] is False
    _, model, processor, _ = load_pretrained_model(str(ckpt), None, None, device_map="cpu", torch_dtype="float32")
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6]])
    pixels = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a = model(input_ids=ids, images=[pixels], image_sizes=[(64, 64)]).logits
        b = tiny_model(input_ids=ids, images=[pixels], image_sizes=[(64, 64)]).logits  # same seed, same weights
    torch.testing.assert_close(a, b)


def test_save_load_round_trip(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "saved")
    build_tiny_qwen3_tokenizer(tmp_path / "saved")
    _, loaded, _, _ = load_pretrained_model(str(tmp_path / "saved"), None, None, device_map="cpu", torch_dtype="float32")
    pixels = torch.randn(7, 3, 64, 64)
    ids = torch.tensor([[5, 9, IMAGE_TOKEN_INDEX, 6, 7]])
    with torch.no_grad():
        a = tiny_model(input_ids=ids, images=[pixels], image_sizes=[(150, 100)]).logits
        b = loaded(input_ids=ids, images=[pixels], image_sizes=[(150, 100)]).logits
    assert torch.equal(a, b)
    assert set(loaded.state_dict()) == set(tiny_model.state_dict())


def test_sharded_save_loads(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    build_tiny_qwen3_tokenizer(tmp_path / "sharded")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    _, loaded, _, _ = load_pretrained_model(str(tmp_path / "sharded"), None, None, device_map="cpu", torch_dtype="float32")
    for (k, v), (k2, v2) in zip(sorted(tiny_model.state_dict().items()), sorted(loaded.state_dict().items())):
        assert k == k2 and torch.equal(v, v2), k


def test_bf16_load(tiny_checkpoint):
    _, model, _, _ = load_pretrained_model(str(tiny_checkpoint), None, None, device_map="cpu", torch_dtype="bfloat16")
    assert model.dtype == torch.bfloat16 and model.get_vision_tower().dtype == torch.bfloat16
    out = model(input_ids=torch.tensor([[5, IMAGE_TOKEN_INDEX, 6]]), images=[torch.randn(1, 3, 64, 64)],
                image_sizes=[(64, 64)])
    assert torch.isfinite(out.logits.float()).all()


def test_wrong_paths_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained_model(str(tmp_path / "nope"), None, None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_pretrained_model(str(tmp_path / "empty"), None, None)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="not a supported LLM"):
        load_pretrained_model(str(bad), None, None)


def test_missing_tower_without_vision_config_says_what_to_do(tmp_path):
    ckpt, _ = write_llava_next_checkpoint(tmp_path)
    shutil.rmtree(tmp_path / "tower_src")
    with pytest.raises(FileNotFoundError, match="vision_config"):
        load_pretrained_model(str(ckpt), None, None, device_map="cpu", torch_dtype="float32")


def test_text_only_load(hand_written):
    ckpt = hand_written[0]
    tokenizer, model, processor, _ = load_pretrained_model(str(ckpt), None, None, multimodal=False,
                                                           device_map="cpu", torch_dtype="float32")
    assert processor is None and type(model).__name__ == "Qwen3ForCausalLM"
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, hand_written[3](input_ids=ids).logits)
