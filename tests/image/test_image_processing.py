"""Pixel preprocessing against transformers' own image processors (independent reference).

transformers' LlavaOnevision processor takes pinpoints as [height, width] and reports image sizes as
(H, W); ours (LLaVA-NeXT) use (width, height), so asymmetric pinpoints are swapped when passed over.
"""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessorPil, LlavaOnevisionImageProcessorPil, SiglipImageProcessorPil

from llava.image import (
    CropSpec,
    prepare_sample_images,
    process_anyres_image,
    process_image,
    process_pad_image,
    process_square_image,
    to_rgb,
)
from llava.mm_utils import process_images

SIGLIP_MEAN = SIGLIP_STD = [0.5, 0.5, 0.5]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
ATOL = 1e-5


def _pinpoints(crop: int, n: int = 6) -> list[list[int]]:
    return [[i * crop, j * crop] for i in range(1, n + 1) for j in range(1, n + 1)]


def _random_image(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed + width * 7919 + height)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}[mode if mode in ("RGB", "RGBA", "L", "LA") else "RGB"]
    array = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(array[..., 0] if channels == 1 else array, mode if mode in ("RGB", "RGBA", "L", "LA") else "RGB")


def _siglip(crop: int) -> SiglipImageProcessorPil:
    return SiglipImageProcessorPil(size={"height": crop, "width": crop})


def _hf_onevision(crop: int, pinpoints_wh, mean=SIGLIP_MEAN, std=SIGLIP_STD) -> LlavaOnevisionImageProcessorPil:
    return LlavaOnevisionImageProcessorPil(
        size={"height": crop, "width": crop}, image_mean=mean, image_std=std,
        image_grid_pinpoints=[[h, w] for w, h in pinpoints_wh])


def _hf_single(processor, image) -> torch.Tensor:
    out = processor([image], return_tensors="pt")
    return out["pixel_values"][0]


# Wide, tall, extreme and tiny images (width, height).
SIZES = [(64, 48), (48, 64), (1000, 20), (20, 1000), (3, 5), (5, 3), (1, 1), (150, 90), (32, 32), (33, 32),
         (200, 199), (7, 400)]


@pytest.mark.parametrize("size", SIZES)
def test_anyres_matches_transformers_small_crop(size):
    crop = 32
    pins = _pinpoints(crop)
    image = _random_image(*size)
    ours = process_anyres_image(image, _siglip(crop), pins)
    ref = _hf_single(_hf_onevision(crop, pins), image)
    assert ours.dtype == torch.float32
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("size", [(640, 480), (1000, 20), (20, 1000), (3, 5), (1, 1)])
def test_anyres_matches_transformers_siglip_384(size):
    """The released configuration: SigLIP 384 crops, 36 pinpoints, anyres_max_9 preprocessing."""
    pins = _pinpoints(384)
    image = _random_image(*size)
    ours = process_anyres_image(image, SiglipImageProcessorPil(size={"height": 384, "width": 384}), pins)
    ref = _hf_single(_hf_onevision(384, pins), image)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_asymmetric_pinpoints_follow_width_height_convention():
    """Only wide grids allowed: a wide image must be tiled 3 across, and pixel-equal to transformers."""
    crop = 16
    pins = [[48, 16], [32, 16], [16, 16]]  # (w, h)
    image = _random_image(90, 30)
    ours = process_anyres_image(image, _siglip(crop), pins)
    assert ours.shape[0] == 1 + 3
    ref = _hf_single(_hf_onevision(crop, pins), image)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_anyres_uses_the_processor_mean_and_std():
    crop = 32
    pins = _pinpoints(crop, 3)
    image = _random_image(70, 40)
    clip_like = SimpleNamespace(size={"height": crop, "width": crop}, image_mean=CLIP_MEAN, image_std=CLIP_STD,
                                resample=Image.Resampling.BICUBIC)
    ours = process_anyres_image(image, clip_like, pins)
    ref = _hf_single(_hf_onevision(crop, pins, CLIP_MEAN, CLIP_STD), image)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def _transparent_palette() -> Image.Image:
    image = _random_image(40, 24).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.info["transparency"] = 3
    return image


@pytest.mark.parametrize("make", [
    lambda: _random_image(40, 24, "RGBA"),
    lambda: _random_image(40, 24, "L"),
    lambda: _random_image(40, 24, "LA"),
    lambda: _random_image(40, 24).convert("P"),
    _transparent_palette,
    lambda: _random_image(40, 24).convert("CMYK"),
], ids=["RGBA", "L", "LA", "P", "P-transparent", "CMYK"])
def test_modes_converted_like_transformers(make):
    crop = 16
    pins = _pinpoints(crop, 3)
    image = make()
    assert to_rgb(image).mode == "RGB"
    ours = process_anyres_image(image, _siglip(crop), pins)
    ref = _hf_single(_hf_onevision(crop, pins), image)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert to_rgb(image).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("size", [(64, 48), (1000, 20), (1, 1), (32, 32)])
def test_square_matches_siglip_processor(size):
    image = _random_image(*size)
    processor = _siglip(32)
    ours = process_square_image(image, processor)
    ref = processor(image, return_tensors="pt")["pixel_values"][0]
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("size", [(64, 48), (48, 64), (1000, 20), (3, 5)])
def test_square_matches_clip_processor_shortest_edge_and_center_crop(size):
    image = _random_image(*size)
    processor = CLIPImageProcessorPil(size={"shortest_edge": 24}, crop_size={"height": 24, "width": 24})
    ours = process_square_image(image, processor)
    ref = processor(image, return_tensors="pt")["pixel_values"][0]
    assert ours.shape == ref.shape == (3, 24, 24)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_pad_matches_transformers_multi_image_path():
    """transformers pads each image of a multi-image sample to a square of the mean colour."""
    crop = 32
    pins = _pinpoints(crop)
    images = [_random_image(60, 20), _random_image(15, 50), _random_image(7, 7, "RGBA")]
    ref = _hf_onevision(crop, pins)([images], return_tensors="pt")["pixel_values"]
    assert ref.shape[:2] == (3, 1)
    for image, expected in zip(images, ref):
        torch.testing.assert_close(process_pad_image(image, _siglip(crop)), expected[0], atol=ATOL, rtol=0)


def test_pad_fill_is_the_mean_colour():
    image = Image.new("RGB", (20, 4), (255, 255, 255))
    out = process_pad_image(image, _siglip(20))
    # Top row is padding: int(0.5 * 255) = 127 -> (127/255 - 0.5) / 0.5.
    torch.testing.assert_close(out[:, 0, 0], torch.full((3,), (127 / 255 - 0.5) / 0.5), atol=1e-6, rtol=0)


def test_tiles_are_row_major_and_base_view_first():
    """A 2x2 grid of solid quadrants: tile k must carry quadrant k's colour, read left-to-right, top-to-bottom."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    image = Image.new("RGB", (64, 64))
    for index, colour in enumerate(colours):
        row, col = divmod(index, 2)
        image.paste(Image.new("RGB", (32, 32), colour), (col * 32, row * 32))
    spec = CropSpec(height=32, width=32)
    crops = process_anyres_image(image, spec, [[64, 64]])
    assert crops.shape == (5, 3, 32, 32)
    for index, colour in enumerate(colours):
        expected = (torch.tensor(colour, dtype=torch.float32) / 255 - 0.5) / 0.5
        torch.testing.assert_close(crops[1 + index][:, 16, 16], expected, atol=1e-6, rtol=0)
    # The base view is the whole image shrunk: its top-left is red, bottom-right yellow.
    torch.testing.assert_close(crops[0][:, 4, 4], (torch.tensor(colours[0]) / 255 - 0.5) / 0.5, atol=1e-6, rtol=0)
    torch.testing.assert_close(crops[0][:, 28, 28], (torch.tensor(colours[3]) / 255 - 0.5) / 0.5, atol=1e-6, rtol=0)


def test_anyres_pads_with_black_centred():
    """A 2:1 image in a 1x1 grid: rows above/below the resized content are black (-1 after norm)."""
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    crops = process_anyres_image(image, CropSpec(height=16, width=16), [[16, 16]])
    tile = crops[1]
    assert torch.all(tile[:, 0, :] == -1) and torch.all(tile[:, -1, :] == -1)
    assert torch.all(tile[:, 8, :] == 1)  # content: 16x8 centred, rows 4..11


def test_crop_spec_reads_every_size_spelling():
    siglip = CropSpec.from_image_processor(_siglip(384))
    assert (siglip.height, siglip.width, siglip.image_mean, siglip.resample) == (384, 384, (0.5,) * 3, 3)
    clip = CropSpec.from_image_processor(CLIPImageProcessorPil())
    assert (clip.height, clip.width, clip.shortest_edge) == (224, 224, 224)
    # LLaVA-NeXT's own SigLIP processor: size is a tuple, crop_size a dict.
    legacy = CropSpec.from_image_processor(SimpleNamespace(size=(384, 384), crop_size={"height": 384, "width": 384},
                                                           image_mean=[0.5] * 3, image_std=[0.5] * 3, resample=3))
    assert (legacy.height, legacy.width, legacy.shortest_edge) == (384, 384, None)
    shortest_only = CropSpec.from_image_processor(SimpleNamespace(size={"shortest_edge": 336}))
    assert (shortest_only.height, shortest_only.width) == (336, 336)
    assert CropSpec.from_image_processor(SimpleNamespace(size=64)).size_wh == (64, 64)
    with pytest.raises(ValueError, match="crop size"):
        CropSpec.from_image_processor(SimpleNamespace())


def test_bad_inputs_have_clear_errors():
    spec = CropSpec(height=32, width=32)
    with pytest.raises(TypeError, match="PIL"):
        to_rgb(np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="not a multiple of the crop size"):
        process_anyres_image(_random_image(10, 10), spec, [[48, 32]])
    with pytest.raises(ValueError, match="unsupported image_aspect_ratio"):
        process_image(_random_image(10, 10), spec, "highres")
    with pytest.raises(ValueError, match="needs image_grid_pinpoints"):
        process_image(_random_image(10, 10), spec, "anyres_max_9")


def test_process_images_stacks_or_lists_like_llava_next():
    crop = 16
    pins = _pinpoints(crop, 3)
    proc = _siglip(crop)
    cfg = SimpleNamespace(image_aspect_ratio="anyres_max_9", image_grid_pinpoints=pins)
    same = process_images([_random_image(30, 30), _random_image(31, 29, seed=1)], proc, cfg)
    assert isinstance(same, torch.Tensor) and same.shape == (2, 5, 3, crop, crop)
    mixed = process_images([_random_image(30, 30), _random_image(40, 10)], proc, cfg)
    assert isinstance(mixed, list) and [t.shape[0] for t in mixed] == [5, 4]
    torch.testing.assert_close(mixed[1], process_anyres_image(_random_image(40, 10), proc, pins))
    cfg.image_aspect_ratio = "pad"  # what lmms-eval sets for multi-image documents
    padded = process_images([_random_image(30, 30), _random_image(40, 10)], proc, cfg)
    assert padded.shape == (2, 3, crop, crop)
    square = process_images([_random_image(30, 30)], proc, SimpleNamespace())  # no aspect ratio: square
    torch.testing.assert_close(square[0], proc(_random_image(30, 30), return_tensors="pt")["pixel_values"][0],
                               atol=ATOL, rtol=0)


def test_prepare_sample_images_uses_pad_for_multi_image():
    crop, pps = 16, 4
    pins = _pinpoints(crop, 3)
    single = prepare_sample_images([_random_image(40, 10)], _siglip(crop), "anyres_max_9", pins, pps)
    assert single.aspect_ratio == "anyres_max_9" and single.image_sizes == [(40, 10)]
    assert single.pixel_values[0].shape == (4, 3, crop, crop)
    multi = prepare_sample_images([_random_image(40, 10), _random_image(5, 9, "RGBA")], _siglip(crop),
                                  "anyres_max_9", pins, pps)
    assert multi.aspect_ratio == "pad"
    assert [t.shape for t in multi.pixel_values] == [(3, crop, crop)] * 2
    assert multi.num_tokens == [pps * pps + 1] * 2
    assert multi.image_sizes == [(40, 10), (5, 9)]
