"""open_clip ViT vision tower (`mm_vision_tower="open_clip:ViT-B-16"` or `"hf-hub:org/name"`).

open_clip_torch needs torchvision, which this project does not install by default (it swaps in a
multi-GB CUDA torch): `pip install -e .[openclip]` on a machine where that is fine. The import is
lazy, so nothing else depends on it. Features are the patch tokens of open_clip's VisionTransformer
(`output_tokens=True`), i.e. after its final `ln_post`.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from llava.model.vision_towers.base import VisionTower

logger = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def import_open_clip():
    try:
        import open_clip
    except ImportError as err:  # torchvision missing is the usual cause
        raise ImportError(
            "the open_clip vision tower needs open_clip_torch (and torchvision): "
            "`pip install -e .[openclip]`; on CPU-only machines this pulls a CUDA torch build"
        ) from err
    return open_clip


class OpenClipConfig:
    """Minimal config object so the tower looks like the transformers ones to the model."""

    def __init__(self, **entries):
        entries.setdefault("model_type", "open_clip")
        self.__dict__.update(entries)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def parse_open_clip_name(vision_tower_name: str) -> tuple[str, str | None]:
    """(model name, pretrained tag): "open_clip:ViT-B-16:laion2b_s34b_b88k" -> ("ViT-B-16", "laion2b_s34b_b88k");
    "hf-hub:org/name" stays whole (open_clip fetches its weights itself)."""
    if vision_tower_name.startswith("open_clip:"):
        name, _, tag = vision_tower_name[len("open_clip:"):].partition(":")
        return name, tag or None
    return vision_tower_name, None


class OpenClipVisionTower(VisionTower):
    kind = "open_clip"

    def __init__(self, vision_tower_name: str, module_config: dict | None = None, attn_implementation=None,
                 image_processor=None, source_folder=None, load_pretrained: bool = False):
        super().__init__(vision_tower_name)
        open_clip = import_open_clip()
        name, tag = parse_open_clip_name(vision_tower_name)
        name = (module_config or {}).get("model_name") or name
        if not load_pretrained:
            tag = None
        model = open_clip.create_model(name, pretrained=tag)
        visual = model.visual
        if not hasattr(visual, "transformer") or not hasattr(visual, "output_tokens"):
            raise ValueError(f"open_clip model {name!r} is not a ViT (VisionTransformer); only ViT towers are supported")
        visual.output_tokens = True
        size = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
        patch = visual.patch_size if isinstance(visual.patch_size, int) else visual.patch_size[0]
        pp = getattr(visual, "preprocess_cfg", {}) or {}
        self.config = OpenClipConfig(model_name=name, hidden_size=int(visual.transformer.width),
                                     image_size=int(size), patch_size=int(patch),
                                     image_mean=list(pp.get("mean", OPENAI_CLIP_MEAN)),
                                     image_std=list(pp.get("std", OPENAI_CLIP_STD)))
        self.vision_tower = visual
        self.is_loaded = bool(load_pretrained)
        if image_processor is None:
            from transformers import SiglipImageProcessorPil

            image_processor = SiglipImageProcessorPil(size={"height": size, "width": size},
                                                      image_mean=self.config.image_mean,
                                                      image_std=self.config.image_std)
            image_processor.crop_size = {"height": size, "width": size}
        self.image_processor = image_processor

    @classmethod
    def from_full_config(cls, vision_tower_name: str, config_dict: dict | None = None, **kwargs):
        return cls(vision_tower_name, config_dict, **kwargs)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        _, tokens = self.vision_tower(pixel_values.to(device=self.device, dtype=self.dtype))
        return tokens

    def load_pretrained_weights(self, folder: str | Path | None = None) -> None:
        """Weights from a local open_clip folder, or through open_clip itself (its own hub/cache
        handling) using the tag in the tower name ("open_clip:ViT-B-16:laion2b_s34b_b88k")."""
        from llava.model.weights import load_into

        open_clip = import_open_clip()
        if folder is not None and Path(folder).is_dir():
            from llava.model.weights import load_state_dict

            state = load_state_dict(folder)
            state = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")} or state
        else:
            name, tag = parse_open_clip_name(self.vision_tower_name)
            state = open_clip.create_model(name, pretrained=tag).visual.state_dict()
        load_into(self.vision_tower, state)
        self.is_loaded = True
