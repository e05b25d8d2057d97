"""Our model's logits equal transformers' LlavaOnevisionForConditionalGeneration with the same
weights (mapped by llava.model.hf_mapping), on anyres, multi-image and text-only inputs."""
import json

import pytest
import torch
from safetensors.torch import save_file

from llava.constants import IMAGE_TOKEN_INDEX
from llava.model.hf_mapping import llava_next_config_to_hf, llava_next_to_hf_state_dict

from model_helpers import random_pil

IMAGE_TOKEN_ID = 1037  # "<|image_pad|>" in the tiny tokenizer: any id inside the vocabulary works


@pytest.fixture(scope="module")
def hf_reference(tiny_model, tmp_path_factory):
    """Write the tiny model in transformers-native form and load it with transformers itself."""
    from transformers import LlavaOnevisionForConditionalGeneration

    folder = tmp_path_factory.mktemp("hf")
    config = tiny_model.config.to_dict()
    hf_config = llava_next_config_to_hf(config, image_token_index=IMAGE_TOKEN_ID,
                                        video_token_index=IMAGE_TOKEN_ID + 1)
    (folder / "config.json").write_text(json.dumps(hf_config))
    state = llava_next_to_hf_state_dict(dict(tiny_model.state_dict()), config["tie_word_embeddings"])
    save_file({k: v.contiguous().clone() for k, v in state.items()}, str(folder / "model.safetensors"))
    model, info = LlavaOnevisionForConditionalGeneration.from_pretrained(
        str(folder), dtype=torch.float32, attn_implementation="sdpa", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return model.eval()


@pytest.fixture(scope="module")
def hf_processor(tiny_model):
    from transformers import LlavaOnevisionImageProcessorPil

    size = tiny_model.get_vision_tower().image_size
    pinpoints = [[h, w] for w, h in tiny_model.config.image_grid_pinpoints]
    return LlavaOnevisionImageProcessorPil(size={"height": size, "width": size}, image_grid_pinpoints=pinpoints,
                                           image_mean=[0.5] * 3, image_std=[0.5] * 3, do_pad=True)


def _hf_pixels(processor, images):
    out = processor(images, return_tensors="pt")
    return out["pixel_values"], out["image_sizes"]


def _crops(hf_model, image_sizes_hw):
    from transformers.models.llava_onevision.modeling_llava_onevision import image_size_to_num_patches

    c = hf_model.config
    return [image_size_to_num_patches(s, c.image_grid_pinpoints, c.vision_config.image_size)
            for s in image_sizes_hw.tolist()]


def _hf_feature_lengths(hf_model, pixel_values, image_sizes, batch_num_images=None):
    with torch.no_grad():
        out = hf_model.model.get_image_features(pixel_values, image_sizes, batch_num_images=batch_num_images,
                                                vision_feature_layer=-1, vision_feature_select_strategy="full",
                                                vision_aspect_ratio=hf_model.config.vision_aspect_ratio)
    return [f.shape[0] for f in out.pooler_output]


PROMPT_A = [5, 17, 33, 101]
PROMPT_B = [44, 2, 250, 9, 10]


def _ids(pieces, image_lengths, ours):
    """pieces: token lists between images; ours uses one -200 per image, HF n image tokens."""
    ids = []
    for i, piece in enumerate(pieces):
        ids += piece
        if i < len(image_lengths):
            ids += [IMAGE_TOKEN_INDEX] if ours else [IMAGE_TOKEN_ID] * image_lengths[i]
    return torch.tensor([ids])


@pytest.mark.parametrize("size", [(150, 100), (60, 200), (64, 64), (300, 90), (190, 190), (23, 71)])
def test_single_image_anyres_logits_match_transformers(tiny_model, hf_reference, hf_processor, size):
    image = random_pil(*size, seed=size[0])
    pixel_values, sizes_hw = _hf_pixels(hf_processor, [image])
    n_crops = _crops(hf_reference, sizes_hw)[0]
    lengths = _hf_feature_lengths(hf_reference, pixel_values, sizes_hw)
    with torch.no_grad():
        ref = hf_reference(input_ids=_ids([PROMPT_A, PROMPT_B], lengths, ours=False), pixel_values=pixel_values,
                           image_sizes=sizes_hw).logits
        ours = tiny_model(input_ids=_ids([PROMPT_A, PROMPT_B], lengths, ours=True),
                          images=[pixel_values[0, :n_crops]], image_sizes=[size]).logits
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_downsample_branch_is_exercised(tiny_model):
    """(150, 100) and (190, 190) must go through the >1.1 bilinear shrink (else the test above is weaker)."""
    from llava.model.image_features import pack_image_features

    def num_image_tokens(num_crops, image_size, *, patches_per_side, **kw):
        """Length of the model's own packed features for a dummy image, without running the tower."""
        dummy = torch.zeros(num_crops, patches_per_side ** 2, 1)
        return pack_image_features(dummy, image_size, image_newline=torch.zeros(1),
                                   patches_per_side=patches_per_side, merge_type="spatial_unpad", **kw).shape[0]

    tower = tiny_model.get_vision_tower()
    kw = dict(image_aspect_ratio="anyres_max_4", image_grid_pinpoints=tiny_model.config.image_grid_pinpoints,
              crop_image_size=tower.image_size, patches_per_side=tower.num_patches_per_side)
    # 190x190 -> 3x3 grid = 12x12 map; ratio sqrt(144/64) = 1.5 -> 8x8 + 8 newlines + 16 base
    assert num_image_tokens(10, (190, 190), **kw) == 16 + 8 * 9
    # 60x200 -> 1x3 grid, 4 wide x 12 high, unpadded to 3 or 4 columns, no shrink
    assert num_image_tokens(4, (60, 200), **kw) == 16 + 12 * (4 + 1)


def test_multi_image_logits_match_transformers(tiny_model, hf_reference, hf_processor):
    images = [random_pil(120, 80, seed=1), random_pil(50, 90, seed=2)]
    pixel_values, sizes_hw = _hf_pixels(hf_processor, images)
    # multi-image: one crop per image (the first = the whole image resized) + one newline each
    batch_num_images = torch.tensor([2])
    lengths = _hf_feature_lengths(hf_reference, pixel_values, sizes_hw, batch_num_images)
    assert lengths == [16 + 1, 16 + 1]
    with torch.no_grad():
        ref = hf_reference(input_ids=_ids([PROMPT_A, [7, 8], PROMPT_B], lengths, ours=False),
                           pixel_values=pixel_values, image_sizes=sizes_hw, batch_num_images=batch_num_images).logits
        ours = tiny_model(input_ids=_ids([PROMPT_A, [7, 8], PROMPT_B], lengths, ours=True),
                          images=[pixel_values[0, :1], pixel_values[1, :1]],
                          image_sizes=[im.size for im in images]).logits
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_text_only_logits_match_transformers(tiny_model, hf_reference):
    ids = torch.tensor([PROMPT_A + PROMPT_B])
    dummy = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        ref = hf_reference(input_ids=ids).logits
        plain = tiny_model(input_ids=ids).logits
        with_dummy = tiny_model(input_ids=ids, images=[dummy], modalities=["text"], image_sizes=[(64, 64)]).logits
    torch.testing.assert_close(plain, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_dummy, ref, rtol=1e-5, atol=1e-5)


def test_batch_with_padding_matches_transformers(tiny_model, hf_reference, hf_processor):
    """Two anyres samples of different lengths, right-padded; valid positions must match HF."""
    images = [random_pil(150, 100, seed=3), random_pil(40, 120, seed=4)]
    pixel_values, sizes_hw = _hf_pixels(hf_processor, images)
    lengths = _hf_feature_lengths(hf_reference, pixel_values, sizes_hw)
    crops = _crops(hf_reference, sizes_hw)
    rows_hf = [_ids([PROMPT_A, PROMPT_B], [lengths[0]], ours=False)[0],
               _ids([[3], PROMPT_B + [11, 12]], [lengths[1]], ours=False)[0]]
    rows_ours = [_ids([PROMPT_A, PROMPT_B], [1], ours=True)[0], _ids([[3], PROMPT_B + [11, 12]], [1], ours=True)[0]]

    def pad(rows, value=0):
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), value)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
            mask[i, :len(r)] = 1
        return ids, mask

    hf_ids, hf_mask = pad(rows_hf)
    our_ids, our_mask = pad(rows_ours)
    with torch.no_grad():
        ref = hf_reference(input_ids=hf_ids, attention_mask=hf_mask, pixel_values=pixel_values,
                           image_sizes=sizes_hw).logits
        ours = tiny_model(input_ids=our_ids, attention_mask=our_mask,
                          images=[pixel_values[i, :crops[i]] for i in range(2)],
                          image_sizes=[im.size for im in images]).logits
    for i, row in enumerate(rows_hf):
        torch.testing.assert_close(ours[i, :len(row)], ref[i, :len(row)], rtol=1e-5, atol=1e-5)


def test_state_dict_mapping_round_trips(tiny_model, hf_reference):
    from llava.model.hf_mapping import hf_to_llava_next_state_dict

    ours = dict(tiny_model.state_dict())
    legacy = llava_next_to_hf_state_dict(ours, tie_word_embeddings=True)
    back = hf_to_llava_next_state_dict(legacy)
    assert set(back) == set(ours)  # includes lm_head (tied copy)
    for key, value in ours.items():
        assert torch.equal(back[key], value), key
    # transformers 5's own in-memory layout maps back too
    from_hf = hf_to_llava_next_state_dict(dict(hf_reference.state_dict()))
    for key, value in ours.items():
        assert torch.equal(from_hf[key], value), key


def test_hf_config_mapping_uses_height_width_pinpoints():
    cfg = {"model_type": "qwen3", "hidden_size": 64, "mm_vision_tower": "google/siglip-so400m-patch14-384",
           "mm_projector_type": "mlp2x_gelu", "mm_patch_merge_type": "spatial_unpad",
           "image_aspect_ratio": "anyres_max_9", "image_grid_pinpoints": [[384, 768], [768, 384]],
           "tie_word_embeddings": True, "mm_tunable_parts": "x"}
    hf = llava_next_config_to_hf(cfg)
    assert hf["image_grid_pinpoints"] == [[768, 384], [384, 768]]
    assert hf["vision_config"]["num_hidden_layers"] == 26 and hf["vision_config"]["hidden_size"] == 1152
    assert "mm_tunable_parts" not in hf["text_config"] and hf["text_config"]["model_type"] == "qwen3"
    with pytest.raises(ValueError, match="mlp2x_gelu"):
        llava_next_config_to_hf({**cfg, "mm_projector_type": "linear"})
