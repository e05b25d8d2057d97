"""SigLIP vision tower as LLaVA-OneVision uses it.

LLaVA-OneVision drops the last encoder layer and the pooling head and takes the output of the last
kept layer, without the post-layernorm. The dropped layer is removed from the module (and from the
config we store), so a 27-layer so400m tower becomes a 26-layer module; the stored config is then
exactly what transformers' `LlavaOnevisionForConditionalGeneration` expects as `vision_config`.

State-dict layout matches LLaVA-NeXT checkpoints: this module's keys are
`vision_tower.vision_model.{embeddings,encoder,post_layernorm}.*`.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch
from torch import nn

from llava.model.vision_towers.base import NOISE_KEYS, VisionTower

logger = logging.getLogger(__name__)

# google/siglip-so400m-patch14-384's vision config, so released checkpoints load when the hub is
# unreachable (their tower weights are inside the checkpoint; only the shape is needed).
SO400M_PATCH14_384 = {
    "model_type": "siglip_vision_model",
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "num_channels": 3,
    "image_size": 384,
    "patch_size": 14,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "attention_dropout": 0.0,
}


class _Holder(nn.Module):
    """Adds the `vision_model.` level that transformers 4.x SigLIP checkpoints have in their keys."""

    def __init__(self, vision_model: nn.Module):
        super().__init__()
        self.vision_model = vision_model


def _vision_config_dict(config_dict: dict) -> dict:
    """A SigLIP vision config dict from either a full `siglip` config or a vision-only one."""
    if config_dict.get("model_type") == "siglip":
        return dict(config_dict.get("vision_config") or {})
    return dict(config_dict)


def drop_last_layer(config_dict: dict) -> dict:
    """The LLaVA-OneVision tower config: one encoder layer fewer and no pooling head."""
    out = {k: v for k, v in copy.deepcopy(_vision_config_dict(config_dict)).items() if k not in NOISE_KEYS}
    out["num_hidden_layers"] = int(out.get("num_hidden_layers", 12)) - 1
    out["vision_use_head"] = False
    out["model_type"] = "siglip_vision_model"
    return out


def build_image_processor(image_size: int, folder: str | Path | None = None):
    """SigLIP preprocessing (resize to a square, rescale, normalise with mean = std = 0.5).

    Read from `folder`'s preprocessor_config.json when there is one. `crop_size` is set too because
    the LLaVA code paths (dummy images, anyres) read `crop_size["height"]`.
    """
    from transformers import SiglipImageProcessorPil

    if folder is not None and (Path(folder) / "preprocessor_config.json").is_file():
        processor = SiglipImageProcessorPil.from_pretrained(str(folder))
    else:
        processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size},
                                            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    processor.crop_size = {"height": image_size, "width": image_size}
    return processor


class SiglipVisionTower(VisionTower):
    """SigLIP tower (`kind="siglip"`); build with `from_module_config` or `from_full_config`."""

    kind = "siglip"

    def __init__(self, vision_tower_name: str, module_config: dict, attn_implementation: str | None = None,
                 image_processor=None, source_folder: str | Path | None = None):
        super().__init__(vision_tower_name)
        from transformers import SiglipVisionConfig, SiglipVisionModel

        cfg = {k: v for k, v in module_config.items() if k not in NOISE_KEYS and k != "model_type"}
        cfg["vision_use_head"] = False
        self.config = SiglipVisionConfig(**cfg)
        model = SiglipVisionModel._from_config(self.config, attn_implementation=attn_implementation or "sdpa",
                                     dtype=torch.get_default_dtype())
        self.config = model.config
        self.vision_tower = _Holder(model)
        self.image_processor = image_processor or build_image_processor(self.config.image_size, source_folder)

    @classmethod
    def from_full_config(cls, vision_tower_name: str, config_dict: dict, **kwargs) -> "SiglipVisionTower":
        """From an original SigLIP config (e.g. the tower folder's config.json): drops the last layer."""
        return cls(vision_tower_name, drop_last_layer(config_dict), **kwargs)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        model = self.vision_tower.vision_model
        hidden = model.embeddings(pixel_values.to(device=self.device, dtype=self.dtype))
        return model.encoder(inputs_embeds=hidden).last_hidden_state

    def load_pretrained_weights(self, folder: str | Path) -> None:
        """Copy weights from a SigLIP folder (full SigLIP or vision-only; 4.x or 5.x key spelling)."""
        from llava.model.weights import load_into, load_state_dict

        kept = self.config.num_hidden_layers
        state = {}
        for key, value in load_state_dict(folder).items():
            if key.startswith("text_model.") or key.startswith("logit_"):
                continue
            key = key[len("vision_model."):] if key.startswith("vision_model.") else key
            if key.startswith("head."):
                continue
            if key.startswith("encoder.layers.") and int(key.split(".")[2]) >= kept:
                continue
            state[key] = value
        try:
            load_into(self.vision_tower.vision_model, state)
        except ValueError as err:
            raise ValueError(f"SigLIP weights in {folder} do not fit the tower config: {err}") from err
        self.is_loaded = True
        logger.info("loaded SigLIP tower weights from %s (%d layers kept)", folder, kept)
