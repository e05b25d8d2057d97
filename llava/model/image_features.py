"""Turn per-crop projected features into the token sequence of one image (LLaVA-OneVision rules).

- one crop (square / pad / each image of a multi-image sample): its patches, plus one
  `image_newline` when the merge type is `spatial*`;
- several crops (anyres: base view first, then the grid tiles row-major): the tiles are put back
  into one (D, rows*P, cols*P) map, the padding is cut away (`spatial_unpad`), for `anyres_max_N`
  the map is bilinearly shrunk when sqrt(h*w / (N*P*P)) > 1.1 (P = patches per side of a crop;
  27 for so400m), one newline is appended per row, and the base view's P*P tokens go first.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from llava.image.anyres import anyres_max_tiles, get_anyres_image_grid_shape, unpad_image

DOWNSAMPLE_THRESHOLD = 1.1


def _with_row_newlines(feature_map: torch.Tensor, newline: torch.Tensor) -> torch.Tensor:
    """(D, H, W) map -> (H * (W + 1), D) tokens, a newline after each row."""
    dim, height, _ = feature_map.shape
    column = newline.to(feature_map.dtype)[:, None, None].expand(dim, height, 1)
    return torch.cat((feature_map, column), dim=-1).flatten(1, 2).transpose(0, 1)


def pack_image_features(
    crops: torch.Tensor,
    image_size: Sequence[int] | None,
    *,
    image_newline: torch.Tensor | None,
    image_aspect_ratio: str | None,
    image_grid_pinpoints,
    crop_image_size: int,
    patches_per_side: int,
    merge_type: str = "spatial_unpad",
) -> torch.Tensor:
    """Features of one image: `crops` is (num_crops, P*P, D); returns (num_tokens, D).

    image_size: original (width, height) as PIL reports it; needed when there are several crops.
    """
    if merge_type == "flat":
        return crops.flatten(0, 1)
    if not merge_type.startswith("spatial"):
        raise ValueError(f"unknown mm_patch_merge_type {merge_type!r}; use 'flat', 'spatial' or 'spatial_unpad'")
    if crops.shape[0] == 1:
        feature = crops[0]
        if image_newline is not None:
            feature = torch.cat((feature, image_newline.to(feature.dtype)[None]), dim=0)
        return feature

    base, tiles = crops[0], crops[1:]
    side = patches_per_side
    if base.shape[0] != side * side:
        raise ValueError(f"a crop has {base.shape[0]} patch features, expected {side}x{side}")
    if image_size is None:
        raise ValueError("an anyres image (several crops) needs its original (width, height) in image_sizes")
    if image_aspect_ratio and image_aspect_ratio.startswith("anyres"):
        cols, rows = get_anyres_image_grid_shape(image_size, image_grid_pinpoints, crop_image_size)
    else:  # LLaVA-NeXT's fallback for several crops without anyres: a 2x2 grid
        cols, rows = 2, 2
    if cols * rows != tiles.shape[0]:
        raise ValueError(f"image of size {tuple(image_size)} should give {cols}x{rows} tiles + base for "
                         f"pinpoints {image_grid_pinpoints}, but {tiles.shape[0]} tiles were passed; "
                         "preprocess with the same image_grid_pinpoints as the model config")
    dim = tiles.shape[-1]
    grid = tiles.reshape(rows, cols, side, side, dim).permute(4, 0, 2, 1, 3).reshape(dim, rows * side, cols * side)
    if "unpad" in merge_type:
        grid = unpad_image(grid, image_size)
        max_tiles = anyres_max_tiles(image_aspect_ratio)
        if max_tiles is not None:
            _, height, width = grid.shape
            ratio = math.sqrt(height * width / (max_tiles * side * side))
            if ratio > DOWNSAMPLE_THRESHOLD:
                grid = nn.functional.interpolate(grid[None], [int(height // ratio), int(width // ratio)],
                                                 mode="bilinear")[0]
        if image_newline is None:
            raise ValueError("spatial_unpad needs the model's image_newline parameter")
        tokens = _with_row_newlines(grid, image_newline)
    else:
        tokens = grid.flatten(1, 2).transpose(0, 1)
    if "nobase" in merge_type:
        return tokens
    return torch.cat((base, tokens), dim=0)
