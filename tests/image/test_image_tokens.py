"""Image-token counts: hand-computed cases and transformers' LlavaOnevisionProcessor arithmetic."""
import math
import random

import pytest
from transformers import LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor

from llava.image import CropSpec, num_image_tokens, process_anyres_image
from llava.image.anyres import select_best_resolution
from PIL import Image

PINS_384 = [[i * 384, j * 384] for i in range(1, 7) for j in range(1, 7)]


# (w, h) -> tokens, worked out by hand with SigLIP-384 (27x27 = 729 per crop) and anyres_max_9:
#  640x480: best grid 768x768 (2x2) -> map 54x54; unpad: 480*54/640 = 40.5 -> 40 rows, pad 7 each
#           side -> 40x54; sqrt(40*54/6561) < 1.1; 729 + 40*(54+1) = 2929.
#  1000x20: best 1152x384 (3x1) -> 27x81; 20*81/1000 = 1.62 -> 1 row -> 1x81; 729 + 1*82 = 811.
#  4000x3000: best 2304x1920 (6x5) -> 135x162; 3000*162/4000 = 121.5 -> 121 rows -> 121x162;
#           times = sqrt(121*162/6561) = 1.7285 > 1.1 -> 121//1.7285 = 70, 162//1.7285 = 93;
#           729 + 70*(93+1) = 7309.
#  384x384: 1x1 grid, nothing to unpad: 729 + 27*28 = 1485.
HAND = {(640, 480): 2929, (1000, 20): 811, (4000, 3000): 7309, (384, 384): 1485}


@pytest.mark.parametrize("size,expected", sorted(HAND.items()))
def test_hand_counts(size, expected):
    assert num_image_tokens(size, "anyres_max_9", PINS_384, 384, 27) == expected


def test_plain_anyres_does_not_downsample():
    # 4000x3000 as above but without the max-9 rule: 729 + 121*(162+1).
    assert num_image_tokens((4000, 3000), "anyres", PINS_384, 384, 27) == 729 + 121 * 163


def test_single_crop_modes_and_flat_merge():
    assert num_image_tokens((640, 480), "square", None, 384, 27) == 730
    assert num_image_tokens((640, 480), "pad", None, 384, 27) == 730
    assert num_image_tokens((640, 480), None, None, 384, 27) == 730
    assert num_image_tokens((640, 480), "square", None, 384, 27, merge_type="flat") == 729
    # flat anyres: every crop's 729 tokens, base + 4 tiles.
    assert num_image_tokens((640, 480), "anyres_max_9", PINS_384, 384, 27, merge_type="flat") == 729 * 5
    with pytest.raises(ValueError, match="mm_patch_merge_type"):
        num_image_tokens((640, 480), "square", None, 384, 27, merge_type="spatial")
    with pytest.raises(ValueError, match="at least 1x1"):
        num_image_tokens((0, 480), "anyres_max_9", PINS_384, 384, 27)


def _hf_processor(pinpoints_wh, num_tokens_per_crop: int, aspect: str) -> LlavaOnevisionProcessor:
    # Without torchvision the video processor cannot be built, so the processor is assembled by
    # hand; `_get_number_of_features` only reads these three attributes.
    processor = object.__new__(LlavaOnevisionProcessor)
    processor.image_processor = LlavaOnevisionImageProcessorPil(image_grid_pinpoints=[[h, w] for w, h in pinpoints_wh])
    processor.num_image_tokens = num_tokens_per_crop
    processor.vision_aspect_ratio = aspect
    return processor


def test_matches_transformers_processor_count_384():
    processor = _hf_processor(PINS_384, 729, "anyres_max_9")
    rng = random.Random(0)
    sizes = [(1, 1), (3, 5), (20, 1000), (1000, 20), (385, 384), (2304, 2304), (9000, 40)]
    sizes += [(rng.randint(1, 5000), rng.randint(1, 5000)) for _ in range(400)]
    for width, height in sizes:
        expected = processor._get_number_of_features(height, width, 384, 384)
        assert num_image_tokens((width, height), "anyres_max_9", PINS_384, 384, 27) == expected, (width, height)


@pytest.mark.parametrize("max_tiles", [1, 4, 9])
def test_matches_transformers_processor_count_tiny(max_tiles):
    crop, pps = 32, 4
    pins = [[i * crop, j * crop] for i in range(1, 5) for j in range(1, 4)]  # asymmetric: 4 wide, 3 tall
    processor = _hf_processor(pins, pps * pps, f"anyres_max_{max_tiles}")
    rng = random.Random(max_tiles)
    for _ in range(300):
        width, height = rng.randint(1, 400), rng.randint(1, 400)
        expected = processor._get_number_of_features(height, width, crop, crop)
        got = num_image_tokens((width, height), f"anyres_max_{max_tiles}", pins, crop, pps)
        assert got == expected, (width, height)


@pytest.mark.parametrize("size", [(1000, 20), (20, 1000), (64, 48), (1, 1)])
def test_count_uses_the_same_grid_as_the_pixels(size):
    crop, pps = 32, 4
    pins = [[i * crop, j * crop] for i in range(1, 7) for j in range(1, 7)]
    crops = process_anyres_image(Image.new("RGB", size), CropSpec(height=crop, width=crop), pins)
    grid_w, grid_h = (d // crop for d in select_best_resolution(size, pins))
    assert crops.shape[0] == 1 + grid_w * grid_h
    flat = num_image_tokens(size, "anyres_max_9", pins, crop, pps, merge_type="flat")
    assert flat == crops.shape[0] * pps * pps


def test_count_equals_the_models_packed_feature_length():
    """The data-side count must equal what the model's feature packing really produces."""
    image_features = pytest.importorskip("llava.model.image_features")
    import torch

    crop, pps = 32, 4
    pins = [[i * crop, j * crop] for i in range(1, 7) for j in range(1, 7)]
    rng = random.Random(1)
    sizes = [(1000, 20), (20, 1000), (1, 1), (64, 48)] + [(rng.randint(1, 600), rng.randint(1, 600)) for _ in range(60)]
    for mode in ("anyres_max_9", "anyres_max_4", "anyres", "pad"):
        for size in sizes:
            crops = 1 if mode == "pad" else 1 + math.prod(d // crop for d in select_best_resolution(size, pins))
            packed = image_features.pack_image_features(
                torch.zeros(crops, pps * pps, 2), size, image_newline=torch.zeros(2), image_aspect_ratio=mode,
                image_grid_pinpoints=pins, crop_image_size=crop, patches_per_side=pps)
            assert num_image_tokens(size, mode, pins, crop, pps) == packed.shape[0], (mode, size)
