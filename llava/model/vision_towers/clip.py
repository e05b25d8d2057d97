"""CLIP vision tower as LLaVA uses it: hidden states of `mm_vision_select_layer` (default -2),
patch tokens only (`mm_vision_select_feature="patch"` drops CLS; "cls_patch" keeps it).

State-dict layout matches LLaVA checkpoints: `vision_tower.vision_model.*`.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from llava.model.vision_towers.base import NOISE_KEYS, VisionTower
from llava.model.vision_towers.siglip import _Holder

logger = logging.getLogger(__name__)


def _vision_config_dict(config_dict: dict) -> dict:
    if config_dict.get("model_type") == "clip":
        return dict(config_dict.get("vision_config") or {})
    return dict(config_dict)


def build_image_processor(image_size: int, folder: str | Path | None = None):
    """OpenAI-CLIP preprocessing (shortest-edge resize + centre crop), from `folder` when present."""
    from transformers import CLIPImageProcessorPil

    if folder is not None and (Path(folder) / "preprocessor_config.json").is_file():
        return CLIPImageProcessorPil.from_pretrained(str(folder))
    return CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                 crop_size={"height": image_size, "width": image_size})


class ClipVisionTower(VisionTower):
    """CLIP tower (`kind="clip"`)."""

    kind = "clip"

    def __init__(self, vision_tower_name: str, module_config: dict, attn_implementation: str | None = None,
                 image_processor=None, source_folder: str | Path | None = None,
                 select_layer: int = -2, select_feature: str = "patch"):
        super().__init__(vision_tower_name)
        from transformers import CLIPVisionConfig, CLIPVisionModel

        if select_feature not in ("patch", "cls_patch"):
            raise ValueError(f"mm_vision_select_feature must be 'patch' or 'cls_patch', got {select_feature!r}")
        cfg = {k: v for k, v in _vision_config_dict(module_config).items() if k not in NOISE_KEYS and k != "model_type"}
        model = CLIPVisionModel._from_config(CLIPVisionConfig(**cfg), attn_implementation=attn_implementation or "sdpa",
                                     dtype=torch.get_default_dtype())
        self.config = model.config
        self.vision_tower = _Holder(model)
        self.select_layer = select_layer
        self.select_feature = select_feature
        self.image_processor = image_processor or build_image_processor(self.config.image_size, source_folder)

    @classmethod
    def from_full_config(cls, vision_tower_name: str, config_dict: dict, **kwargs) -> "ClipVisionTower":
        return cls(vision_tower_name, _vision_config_dict(config_dict), **kwargs)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.vision_tower.vision_model(pixel_values.to(device=self.device, dtype=self.dtype),
                                             output_hidden_states=True)
        features = out.hidden_states[self.select_layer]
        return features[:, 1:] if self.select_feature == "patch" else features

    @property
    def num_patches(self) -> int:
        return self.num_patches_per_side ** 2 + (self.select_feature == "cls_patch")

    def load_pretrained_weights(self, folder: str | Path) -> None:
        """Copy weights from a CLIP folder (full CLIP or vision-only; either key spelling)."""
        from llava.model.weights import load_into, load_state_dict

        state = {}
        for key, value in load_state_dict(folder).items():
            if key.startswith(("text_model.", "text_projection", "visual_projection", "logit_scale")):
                continue
            state[key[len("vision_model."):] if key.startswith("vision_model.") else key] = value
        state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
        try:
            load_into(self.vision_tower.vision_model, state, ignore_missing=("position_ids",))
        except ValueError as err:
            raise ValueError(f"CLIP weights in {folder} do not fit the tower config: {err}") from err
        self.is_loaded = True
        logger.info("loaded CLIP tower weights from %s", folder)
