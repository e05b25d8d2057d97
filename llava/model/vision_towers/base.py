"""Common interface of the vision towers: pixels (N, C, H, W) in, patch features (N, P, D) out."""
from __future__ import annotations

import torch
from torch import nn


# Generic PretrainedConfig fields that say nothing about the tower; left out of the stored config.
NOISE_KEYS = {"_name_or_path", "architectures", "id2label", "label2id", "chunk_size_feed_forward",
               "output_attentions", "output_hidden_states", "return_dict", "problem_type",
               "is_encoder_decoder", "dtype", "torch_dtype", "transformers_version", "tie_word_embeddings"}


class VisionTower(nn.Module):
    """Base class. Subclasses set `self.config` (the tower config as built, after any layer
    dropping), `self.image_processor`, and implement `forward` and `load_pretrained_weights`.

    `image_size` / `patch_size` / `num_patches_per_side` describe one square crop, which is what
    the anyres tiling and the feature re-assembly in the model need.
    """

    kind: str = ""

    def __init__(self, vision_tower_name: str):
        super().__init__()
        self.vision_tower_name = vision_tower_name
        self.is_loaded = False  # True once pretrained weights were copied in

    @property
    def hidden_size(self) -> int:
        return int(self.config.hidden_size)

    @property
    def image_size(self) -> int:
        return int(self.config.image_size)

    @property
    def patch_size(self) -> int:
        return int(self.config.patch_size)

    @property
    def num_patches_per_side(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.num_patches_per_side ** 2

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def config_dict(self) -> dict:
        """The tower config as a JSON-able dict; stored as `vision_config` in checkpoints."""
        return {k: v for k, v in self.config.to_dict().items() if k not in NOISE_KEYS}

    def dummy_pixels(self, device=None, dtype=None) -> torch.Tensor:
        """One black crop; text-only batches run it so every rank touches the tower."""
        return torch.zeros(1, 3, self.image_size, self.image_size, device=device or self.device,
                           dtype=dtype or self.dtype)
