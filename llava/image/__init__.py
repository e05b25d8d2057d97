"""Image geometry (anyres) and pixel preprocessing shared by training, inference and export."""
from llava.image.anyres import (
    anyres_max_tiles,
    get_anyres_image_grid_shape,
    parse_grid_pinpoints,
    select_best_resolution,
    unpad_image,
)
from llava.image.processing import (
    CropSpec,
    SampleImages,
    aspect_ratio_for_sample,
    expand_to_square,
    num_image_tokens,
    prepare_sample_images,
    process_anyres_image,
    process_image,
    process_pad_image,
    process_square_image,
    to_rgb,
)

__all__ = [
    "CropSpec",
    "SampleImages",
    "anyres_max_tiles",
    "aspect_ratio_for_sample",
    "expand_to_square",
    "get_anyres_image_grid_shape",
    "num_image_tokens",
    "parse_grid_pinpoints",
    "prepare_sample_images",
    "process_anyres_image",
    "process_image",
    "process_pad_image",
    "process_square_image",
    "select_best_resolution",
    "to_rgb",
    "unpad_image",
]
