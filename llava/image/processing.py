"""Pixel preprocessing of LLaVA-OneVision (anyres tiling, square, pad) and its image-token count.

Everything works on PIL images and returns float32 tensors normalised with the vision tower's
mean/std. The geometry follows LLaVA-NeXT / transformers' `LlavaOnevisionImageProcessor`
exactly (same PIL resampling, same rounding, same centred black padding), so pixel tensors match
transformers' to float precision. Sizes are (width, height) like PIL and LLaVA-NeXT.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from llava.image.anyres import anyres_max_tiles, parse_grid_pinpoints, select_best_resolution, unpad_image

# The per-image modes LLaVA-NeXT's `process_images` implements and this project supports.
ASPECT_RATIO_MODES = ("square", "pad", "anyres", "anyres_max_N")
MERGE_TYPES = ("spatial_unpad", "flat")


@dataclass(frozen=True)
class CropSpec:
    """What the vision tower expects for one crop, read from its image processor."""

    height: int
    width: int
    image_mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    image_std: tuple[float, ...] = (0.5, 0.5, 0.5)
    resample: int = int(Image.Resampling.BICUBIC)
    rescale_factor: float = 1 / 255
    do_rescale: bool = True
    do_normalize: bool = True
    # CLIP-style processors resize the short side to this length and centre-crop (square mode).
    shortest_edge: int | None = None

    @classmethod
    def from_image_processor(cls, image_processor) -> "CropSpec":
        """Read the crop geometry and normalisation of a transformers (or LLaVA-NeXT) processor.

        `size` may be {"height", "width"}, {"shortest_edge"}, a transformers `SizeDict`, an
        (h, w) tuple or an int; `crop_size`, when present, wins for the crop.
        """
        if isinstance(image_processor, CropSpec):
            return image_processor
        size_hw, shortest = _read_size(getattr(image_processor, "size", None))
        crop_hw, crop_shortest = _read_size(getattr(image_processor, "crop_size", None))
        hw = crop_hw or (None if crop_shortest is None else (crop_shortest, crop_shortest))
        hw = hw or size_hw or (None if shortest is None else (shortest, shortest))
        if hw is None:
            raise ValueError(
                f"cannot read the crop size from image processor {type(image_processor).__name__}: "
                "it needs `size` ({'height','width'} or {'shortest_edge'}) or `crop_size`")
        mean = _triple(getattr(image_processor, "image_mean", None), 0.5)
        std = _triple(getattr(image_processor, "image_std", None), 0.5)
        resample = getattr(image_processor, "resample", None)
        rescale_factor = getattr(image_processor, "rescale_factor", None)
        center_crop = bool(getattr(image_processor, "do_center_crop", False))
        return cls(
            height=int(hw[0]),
            width=int(hw[1]),
            image_mean=mean,
            image_std=std,
            resample=int(Image.Resampling.BICUBIC if resample is None else resample),
            rescale_factor=float(1 / 255 if rescale_factor is None else rescale_factor),
            do_rescale=_flag(image_processor, "do_rescale"),
            do_normalize=_flag(image_processor, "do_normalize"),
            shortest_edge=shortest if (shortest is not None and center_crop and size_hw is None) else None,
        )

    @property
    def size_wh(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def mean_color(self) -> tuple[int, ...]:
        """Background colour of `pad` mode: the mean as 0-255 integers (LLaVA's expand2square)."""
        return tuple(int(m * 255) for m in self.image_mean)


def _flag(obj, name: str) -> bool:
    value = getattr(obj, name, None)
    return True if value is None else bool(value)


def _read_size(size) -> tuple[tuple[int, int] | None, int | None]:
    """Return ((height, width) or None, shortest_edge or None) from any size spelling."""
    if size is None:
        return None, None
    if isinstance(size, (int, np.integer)):
        return (int(size), int(size)), None
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"image processor size {size!r} must be (height, width)")
        return (int(size[0]), int(size[1])), None

    def get(key):
        if isinstance(size, dict):
            return size.get(key)
        return getattr(size, key, None)

    height, width, shortest = get("height"), get("width"), get("shortest_edge")
    hw = (int(height), int(width)) if height and width else None
    return hw, (int(shortest) if shortest else None)


def _triple(value, default: float) -> tuple[float, ...]:
    if value is None:
        return (default,) * 3
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    return tuple(float(v) for v in value)


# ---------------------------------------------------------------------------------------------
# PIL helpers


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited onto white (as transformers does)."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL.Image.Image, got {type(image).__name__}")
    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def expand_to_square(image: Image.Image, background: Sequence[int]) -> Image.Image:
    """Centre the image on a square canvas of its longer side filled with `background`."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), tuple(background))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def fit_size(image_size: Sequence[int], target_size: Sequence[int]) -> tuple[int, int]:
    """(w, h) of the aspect-preserving resize into `target_size` (rounding up, capped at the target)."""
    width, height = image_size
    target_width, target_height = target_size
    scale_w, scale_h = target_width / width, target_height / height
    if scale_w < scale_h:
        return target_width, min(math.ceil(height * scale_w), target_height)
    return min(math.ceil(width * scale_h), target_width), target_height


def resize_and_pad(image: Image.Image, target_size: Sequence[int], resample: int) -> Image.Image:
    """Aspect-preserving resize into `target_size` (w, h), centred on a black canvas."""
    new_width, new_height = fit_size(image.size, target_size)
    resized = image.resize((new_width, new_height), resample=resample)
    target_width, target_height = target_size
    canvas = Image.new("RGB", (target_width, target_height), (0, 0, 0))
    canvas.paste(resized, ((target_width - new_width) // 2, (target_height - new_height) // 2))
    return canvas


def split_into_tiles(image: Image.Image, tile_width: int, tile_height: int) -> list[Image.Image]:
    """Cut an image whose sides are multiples of the tile size into tiles, row-major."""
    width, height = image.size
    if width % tile_width or height % tile_height:
        raise ValueError(f"image of {width}x{height} is not a whole number of {tile_width}x{tile_height} tiles")
    return [image.crop((left, top, left + tile_width, top + tile_height))
            for top in range(0, height, tile_height) for left in range(0, width, tile_width)]


def normalize(image: Image.Image, spec: CropSpec) -> torch.Tensor:
    """uint8 RGB PIL image -> (3, H, W) float32, rescaled and normalised like transformers."""
    array = np.asarray(image, dtype=np.uint8)
    # transformers rescales in float64 and casts to float32 before normalising in float32.
    pixels = array.astype(np.float64)
    if spec.do_rescale:
        pixels = pixels * spec.rescale_factor
    pixels = pixels.astype(np.float32)
    if spec.do_normalize:
        mean = np.asarray(spec.image_mean, dtype=np.float32)
        std = np.asarray(spec.image_std, dtype=np.float32)
        pixels = (pixels - mean) / std
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


# ---------------------------------------------------------------------------------------------
# The three modes


def square_crop(image: Image.Image, spec: CropSpec) -> Image.Image:
    """What the tower's own processor does to a whole image: plain resize to the crop size, or
    (CLIP-style processors) resize of the short side then centre crop."""
    if spec.shortest_edge is None:
        return image.resize(spec.size_wh, resample=spec.resample)
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = spec.shortest_edge, int(spec.shortest_edge * long / short)
    new_size = (new_short, new_long) if width <= height else (new_long, new_short)
    resized = image.resize(new_size, resample=spec.resample)
    return _center_crop(resized, spec.width, spec.height)


def _center_crop(image: Image.Image, crop_width: int, crop_height: int) -> Image.Image:
    """Centre crop; an image smaller than the crop is first centred on black (as transformers)."""
    width, height = image.size
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    if top < 0 or left < 0:
        new_width, new_height = max(crop_width, width), max(crop_height, height)
        pad_left, pad_top = math.ceil((new_width - width) / 2), math.ceil((new_height - height) / 2)
        canvas = Image.new(image.mode, (new_width, new_height), (0,) * len(image.getbands()))
        canvas.paste(image, (pad_left, pad_top))
        image, top, left = canvas, top + pad_top, left + pad_left
    return image.crop((left, top, left + crop_width, top + crop_height))


def process_square_image(image: Image.Image, image_processor) -> torch.Tensor:
    """`square`: the whole image resized to one crop -> (3, H, W)."""
    spec = CropSpec.from_image_processor(image_processor)
    return normalize(square_crop(to_rgb(image), spec), spec)


def process_pad_image(image: Image.Image, image_processor) -> torch.Tensor:
    """`pad`: expand to a square filled with the mean colour, then resize to one crop -> (3, H, W)."""
    spec = CropSpec.from_image_processor(image_processor)
    squared = expand_to_square(to_rgb(image), spec.mean_color)
    return normalize(square_crop(squared, spec), spec)


def anyres_crops(image: Image.Image, spec: CropSpec, grid_pinpoints) -> list[Image.Image]:
    """Base view (plain resize to the crop size) followed by the row-major tiles of the best grid."""
    image = to_rgb(image)
    pinpoints = parse_grid_pinpoints(grid_pinpoints, spec.height)
    for w, h in pinpoints:
        if w % spec.width or h % spec.height:
            raise ValueError(f"grid pinpoint {w}x{h} is not a multiple of the crop size "
                             f"{spec.width}x{spec.height}; fix image_grid_pinpoints")
    best = select_best_resolution(image.size, pinpoints)
    canvas = resize_and_pad(image, best, spec.resample)
    tiles = split_into_tiles(canvas, spec.width, spec.height)
    base = image.resize(spec.size_wh, resample=spec.resample)
    return [base] + tiles


def process_anyres_image(image: Image.Image, image_processor, grid_pinpoints) -> torch.Tensor:
    """`anyres` / `anyres_max_N`: (1 + tiles, 3, H, W), base view first."""
    spec = CropSpec.from_image_processor(image_processor)
    return torch.stack([normalize(crop, spec) for crop in anyres_crops(image, spec, grid_pinpoints)])


def aspect_ratio_for_sample(image_aspect_ratio: str | None, num_images: int) -> str:
    """The mode applied to each image of a sample: multi-image samples use `pad` (LLaVA-OneVision),
    single images the configured mode (`square` when unset)."""
    mode = image_aspect_ratio or "square"
    return "pad" if num_images > 1 else mode


def _check_mode(image_aspect_ratio: str) -> None:
    if image_aspect_ratio in ("square", "pad", "anyres") or anyres_max_tiles(image_aspect_ratio):
        return
    raise ValueError(f"unsupported image_aspect_ratio {image_aspect_ratio!r}; "
                     f"use one of {', '.join(ASPECT_RATIO_MODES)}")


def process_image(image: Image.Image, image_processor, image_aspect_ratio: str | None,
                  grid_pinpoints=None) -> torch.Tensor:
    """One image in the given mode: (crops, 3, H, W) for anyres, (3, H, W) otherwise."""
    mode = image_aspect_ratio or "square"
    _check_mode(mode)
    if mode.startswith("anyres"):
        if grid_pinpoints is None:
            raise ValueError(f"image_aspect_ratio {mode!r} needs image_grid_pinpoints")
        return process_anyres_image(image, image_processor, grid_pinpoints)
    if mode == "pad":
        return process_pad_image(image, image_processor)
    return process_square_image(image, image_processor)


# ---------------------------------------------------------------------------------------------
# Token count


def num_image_tokens(image_size_wh: Sequence[int], aspect_ratio: str | None, pinpoints,
                     crop_size: int | Sequence[int], patches_per_side: int, *,
                     merge_type: str = "spatial_unpad") -> int:
    """Number of LLM positions one image occupies after the projector, as LLaVA-OneVision builds them.

    anyres with `spatial_unpad`: base crop (patches_per_side**2) + the tile grid re-assembled,
    unpadded, bilinearly downsampled when sqrt(h*w / (N * pps**2)) > 1.1 (`anyres_max_N` only),
    plus one newline per row. `square`/`pad` (and each image of a multi-image sample): one crop +
    one newline. `flat` merging: patches_per_side**2 per crop, no newlines.
    `image_size_wh` is the original image's (width, height); `crop_size` an int or (w, h).
    """
    if merge_type not in MERGE_TYPES:
        raise ValueError(f"unsupported mm_patch_merge_type {merge_type!r}; use one of {MERGE_TYPES}")
    if min(int(v) for v in image_size_wh) < 1:
        raise ValueError(f"image size {tuple(image_size_wh)} (width, height) must be at least 1x1")
    mode = aspect_ratio or "square"
    _check_mode(mode)
    crop_w, crop_h = (crop_size, crop_size) if isinstance(crop_size, int) else (int(crop_size[0]), int(crop_size[1]))
    base = patches_per_side * patches_per_side
    if not mode.startswith("anyres"):
        return base if merge_type == "flat" else base + 1
    if pinpoints is None:
        raise ValueError(f"image_aspect_ratio {mode!r} needs image_grid_pinpoints")
    best_w, best_h = select_best_resolution(image_size_wh, parse_grid_pinpoints(pinpoints, crop_h))
    grid_w, grid_h = best_w // crop_w, best_h // crop_h
    if merge_type == "flat":
        return base * (1 + grid_w * grid_h)
    height, width = _unpadded_hw(grid_h * patches_per_side, grid_w * patches_per_side, image_size_wh)
    max_tiles = anyres_max_tiles(mode)
    if max_tiles:
        times = math.sqrt(height * width / (max_tiles * base))
        if times > 1.1:
            # Same arithmetic as the model's interpolate target size.
            height, width = int(height // times), int(width // times)
    return base + height * (width + 1)


def _unpadded_hw(height: int, width: int, image_size_wh: Sequence[int]) -> tuple[int, int]:
    """Feature-map size after `unpad_image`, computed without building the map."""
    probe = torch.empty(0, height, width)
    out = unpad_image(probe, image_size_wh)
    return int(out.shape[1]), int(out.shape[2])


@dataclass
class SampleImages:
    """The images of one training/inference sample, ready for the model."""

    pixel_values: list[torch.Tensor]  # per image: (crops, 3, H, W) for anyres, (3, H, W) otherwise
    image_sizes: list[tuple[int, int]]  # original (width, height), as the model's unpad needs
    num_tokens: list[int]  # LLM positions per image, for truncation and length grouping
    aspect_ratio: str  # the mode actually applied (multi-image samples use `pad`)


def prepare_sample_images(images: Sequence[Image.Image], image_processor, image_aspect_ratio: str | None,
                          grid_pinpoints, patches_per_side: int, *,
                          merge_type: str = "spatial_unpad") -> SampleImages:
    """Preprocess all images of one sample and count their tokens with one consistent mode."""
    spec = CropSpec.from_image_processor(image_processor)
    mode = aspect_ratio_for_sample(image_aspect_ratio, len(images))
    rgb = [to_rgb(image) for image in images]
    return SampleImages(
        pixel_values=[process_image(image, spec, mode, grid_pinpoints) for image in rgb],
        image_sizes=[image.size for image in rgb],
        num_tokens=[num_image_tokens(image.size, mode, grid_pinpoints, spec.size_wh, patches_per_side,
                                     merge_type=merge_type) for image in rgb],
        aspect_ratio=mode,
    )
