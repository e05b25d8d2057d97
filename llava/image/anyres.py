"""AnyRes geometry shared by the image processor and the model.

Sizes follow LLaVA-NeXT: `image_size` and pinpoints are (width, height), as PIL reports them.
transformers' LlavaOnevision uses (height, width); conversions happen at the boundary (export).
"""
from __future__ import annotations

import ast
import math
import re
from typing import Sequence

import torch

_RANGE = re.compile(r"\((\d+)x(\d+)\),\s*\((\d+)x(\d+)\)")
_MAX = re.compile(r"^anyres_max_(\d+)$")


def parse_grid_pinpoints(grid_pinpoints, patch_size: int) -> list[tuple[int, int]]:
    """Return the pinpoints as a list of (width, height) in pixels.

    Accepts a list of [w, h], its string form, or LLaVA-NeXT's range form "(1x1),...,(6x6)"
    (multiples of `patch_size`, every grid from the first to the last).
    """
    if isinstance(grid_pinpoints, str):
        m = _RANGE.fullmatch(grid_pinpoints.replace("...", "").replace(" ", "").replace(",,", ","))
        if "x" in grid_pinpoints and m:
            lo_w, lo_h, hi_w, hi_h = (int(g) for g in m.groups())
            return [(i * patch_size, j * patch_size)
                    for i in range(lo_w, hi_w + 1) for j in range(lo_h, hi_h + 1)]
        grid_pinpoints = ast.literal_eval(grid_pinpoints)
    out = [(int(w), int(h)) for w, h in grid_pinpoints]
    if not out:
        raise ValueError("image_grid_pinpoints is empty")
    return out


def anyres_max_tiles(image_aspect_ratio: str | None) -> int | None:
    """`anyres_max_9` -> 9; other modes -> None."""
    m = _MAX.match(image_aspect_ratio or "")
    return int(m.group(1)) if m else None


def select_best_resolution(original_size: Sequence[int], possible_resolutions) -> tuple[int, int]:
    """Pick the (width, height) pinpoint that keeps the most effective resolution.

    Ties are broken by the least wasted (padded) area.
    """
    original_width, original_height = (int(x) for x in original_size)
    best, best_effective, best_wasted = None, -1, math.inf
    for width, height in possible_resolutions:
        scale = min(width / original_width, height / original_height)
        down_w, down_h = int(original_width * scale), int(original_height * scale)
        effective = min(down_w * down_h, original_width * original_height)
        wasted = width * height - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (width, height), effective, wasted
    return best


def get_anyres_image_grid_shape(image_size: Sequence[int], grid_pinpoints, patch_size: int) -> tuple[int, int]:
    """Number of tiles (columns, rows) the anyres preprocessing makes for an image of (w, h)."""
    possible = parse_grid_pinpoints(grid_pinpoints, patch_size)
    width, height = select_best_resolution(image_size, possible)
    return width // patch_size, height // patch_size


def unpad_image(tensor: torch.Tensor, original_size: Sequence[int]) -> torch.Tensor:
    """Remove the padding that aspect-preserving resize + centre pad added to a (C, H, W) map.

    `original_size` is (width, height) of the original image.
    """
    original_width, original_height = (int(x) for x in original_size)
    current_height, current_width = tensor.shape[1:]
    if original_width / original_height > current_width / current_height:
        scale = current_width / original_width
        new_height = int(round(original_height * scale, 7))
        padding = (current_height - new_height) // 2
        return tensor[:, padding:current_height - padding, :]
    scale = current_height / original_height
    new_width = int(round(original_width * scale, 7))
    padding = (current_width - new_width) // 2
    return tensor[:, :, padding:current_width - padding]
