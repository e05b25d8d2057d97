"""Assemble a perception model from parts for training (LLM + vision tower + fresh projector).

    model, tokenizer = build_perception_model("Qwen/Qwen3-0.6B", "google/siglip-so400m-patch14-384")

To continue from an existing LLaVA checkpoint (next training stage, resume weights), use
`llava.model.builder.load_pretrained_model(path, None, None, torch_dtype=...)` instead: it returns the
same model class, with projector, newline and tower loaded from the checkpoint.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from torch import nn

from llava.image.anyres import parse_grid_pinpoints
from llava.model.attention import choose_attn_implementation
from llava.model.language_models import llava_classes_for
from llava.model.loading import llm_with_vision_tower, resolve_model_folder
from llava.model.vision_towers import build_vision_tower, tower_module_config
from llava.model.weights import check_weight_files
from llava.utils.dtypes import resolve_dtype

logger = logging.getLogger(__name__)

# LLaVA-OneVision SI/OV: every (i*384, j*384) for i, j in 1..6.
ONEVISION_PINPOINTS = "(1x1),...,(6x6)"


def build_perception_model(llm_name_or_path: str | Path, vision_tower: str | Path, *,
                           projector_type: str = "mlp2x_gelu", image_aspect_ratio: str = "anyres_max_9",
                           image_grid_pinpoints=ONEVISION_PINPOINTS, mm_patch_merge_type: str = "spatial_unpad",
                           mm_vision_select_layer: int = -2, mm_vision_select_feature: str = "patch",
                           torch_dtype="bfloat16", attn_implementation: str | None = None,
                           tokenizer_model_max_length: int | None = None, tokenizer_padding_side: str = "right",
                           mm_tunable_parts: str | None = None, mm_vision_tower_lr: float | None = None,
                           mm_projector_lr: float | None = None, seed: int | None = None):
    """Load an LLM checkpoint (Qwen3/Qwen2, chosen by config.model_type) and a vision tower (SigLIP /
    CLIP / open_clip, see `llava.model.vision_towers`), and add a freshly initialised projector
    and image_newline. Returns (model, tokenizer); `model.get_vision_tower().image_processor` is
    the image processor.

    image_grid_pinpoints: list of [w, h], or LLaVA's range string "(1x1),...,(6x6)" in units of the
        tower's image size (expanded here, so the saved config holds explicit pixel sizes).
    Every other keyword becomes the config key of the same name (saved in config.json).
    """
    import json

    from transformers import AutoTokenizer

    dtype = resolve_dtype(torch_dtype)
    attn = choose_attn_implementation(attn_implementation)
    folder = resolve_model_folder(llm_name_or_path)
    check_weight_files(folder)  # names a truncated file (transformers' error does not)
    config_dict = json.loads((folder / "config.json").read_text())
    if config_dict.get("mm_vision_tower"):
        raise ValueError(f"{folder} is already a LLaVA checkpoint; load it with load_pretrained_model instead")
    config_class, model_class = llava_classes_for(config_dict, str(folder / "config.json"))

    vision_config = tower_module_config(str(vision_tower))
    if vision_config is None:  # open_clip: build once to learn its shape
        vision_config = build_vision_tower(str(vision_tower), load_weights=False).config_dict()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    config_dict.pop("model_type", None)
    config = config_class.from_dict(config_dict)
    mm = {
        "mm_vision_tower": str(vision_tower),
        "vision_config": vision_config,
        "mm_hidden_size": vision_config["hidden_size"],
        "mm_projector_type": projector_type,
        "mm_vision_select_layer": mm_vision_select_layer,
        "mm_vision_select_feature": mm_vision_select_feature,
        "mm_patch_merge_type": mm_patch_merge_type,
        "image_aspect_ratio": image_aspect_ratio,
        "image_grid_pinpoints": [list(p) for p in parse_grid_pinpoints(image_grid_pinpoints,
                                                                       vision_config["image_size"])],
        "mm_newline_position": "grid",
        "mm_spatial_pool_mode": "bilinear",
        "mm_tunable_parts": mm_tunable_parts,
        "mm_vision_tower_lr": mm_vision_tower_lr,
        "mm_projector_lr": mm_projector_lr,
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
        "tokenizer_padding_side": tokenizer_padding_side,
        "tokenizer_model_max_length": tokenizer_model_max_length or _tokenizer_limit(tokenizer),
    }
    for key, value in mm.items():
        setattr(config, key, value)

    # Tower, projector and newline are not in the LLM folder: the tower's weights come from
    # `vision_tower`, projector and newline are initialised right below (ZeRO-3 aware).
    model = llm_with_vision_tower(folder, config, model_class, dtype=dtype, attn_implementation=attn)
    reset_projector_and_newline(model, seed=seed)
    if tokenizer.pad_token is None:
        logger.warning("tokenizer of %s has no pad token; using the eos token for padding", folder)
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _tokenizer_limit(tokenizer) -> int | None:
    """The tokenizer's model_max_length, unless it is transformers' 'no limit' placeholder."""
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if limit and limit < 1_000_000 else None


@torch.no_grad()
def reset_projector_and_newline(model, seed: int | None = None) -> None:
    """Fresh projector (PyTorch's default Linear init, as LLaVA) and image_newline ~ N(0, 1/H).

    With a seed the values are reproducible; under ZeRO-3 the parameters are gathered, written on
    rank 0 and re-partitioned.
    """
    from llava.model.weights import load_into

    generator = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
    inner = model.get_model()
    fresh = {}
    for name, module in inner.mm_projector.named_modules():
        if isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features)
            prefix = f"{name}." if name else ""
            fresh[prefix + "weight"] = torch.empty(module.out_features, module.in_features).uniform_(
                -bound, bound, generator=generator)
            if module.bias is not None:
                fresh[prefix + "bias"] = torch.empty(module.out_features).uniform_(-bound, bound, generator=generator)
    if fresh:
        dtype = next(inner.mm_projector.parameters()).dtype
        load_into(inner.mm_projector, {k: v.to(dtype) for k, v in fresh.items()})
    if getattr(inner, "image_newline", None) is not None:
        hidden = model.config.hidden_size
        _set_parameter(inner, "image_newline", torch.randn(hidden, generator=generator) / math.sqrt(hidden))


def _set_parameter(module: nn.Module, name: str, value: torch.Tensor) -> None:
    from llava.model.weights import zero3_enabled

    param = getattr(module, name)
    if zero3_enabled():
        import deepspeed

        with deepspeed.zero.GatheredParameters([param], modifier_rank=0):
            if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
                param.copy_(value.to(param.dtype))
    else:
        param.copy_(value.to(param.dtype))
