"""Config conversion between the LLaVA-NeXT `config.json` and transformers' `LlavaOnevisionConfig`."""
from __future__ import annotations

import copy

from llava.image.anyres import anyres_max_tiles, parse_grid_pinpoints

# Keys of a LLaVA-NeXT config that describe the multimodal parts, not the Qwen3 language model.
LLAVA_KEYS = {
    "architectures", "model_type", "vision_config", "mm_vision_tower", "mm_hidden_size", "mm_projector_type",
    "mm_vision_select_layer", "mm_vision_select_feature", "mm_patch_merge_type", "image_aspect_ratio",
    "image_grid_pinpoints", "image_crop_resolution", "image_split_resolution", "mm_newline_position",
    "mm_spatial_pool_mode", "mm_spatial_pool_stride", "mm_spatial_pool_out_channels", "mm_tunable_parts",
    "mm_vision_tower_lr", "mm_projector_lr", "mm_use_im_start_end", "mm_use_im_patch_token",
    "tokenizer_padding_side", "tokenizer_model_max_length", "use_mm_proj", "unfreeze_mm_vision_tower",
    "tune_mm_mlp_adapter", "freeze_mm_mlp_adapter", "mm_resampler_type", "add_faster_video", "faster_token_stride",
    "force_sample", "mm_vision_tower_config", "pos_skipping_range", "vocab_size_with_mm_tokens", "_name_or_path",
    "transformers_version", "dtype", "torch_dtype", "use_cache",
}
LLAVA_ARCHITECTURE = "LlavaQwen3ForCausalLM"
LLAVA_MODEL_TYPE = "llava_qwen_3"


class UnsupportedForNative(ValueError):
    """The LLaVA-NeXT settings have no equivalent in transformers' LlavaOnevision."""


def text_config_dict(llava_cfg: dict) -> dict:
    """The Qwen3 part of a LLaVA-NeXT config."""
    from transformers import Qwen3Config

    known = set(Qwen3Config().to_dict()) | {"rope_theta", "rope_scaling"}
    out = {k: copy.deepcopy(v) for k, v in llava_cfg.items() if k in known and k not in LLAVA_KEYS}
    out["model_type"] = "qwen3"
    out.pop("architectures", None)
    return out


def check_native_compatible(cfg: dict) -> None:
    """Raise with the setting to change when the checkpoint cannot be expressed as LlavaOnevision."""
    problems = []
    if cfg.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        problems.append(f"mm_projector_type={cfg.get('mm_projector_type')!r} (LlavaOnevision has a 2-layer GELU MLP)")
    if anyres_max_tiles(cfg.get("image_aspect_ratio")) is None:
        problems.append(f"image_aspect_ratio={cfg.get('image_aspect_ratio')!r} (LlavaOnevision always tiles "
                        "single images as anyres_max_N)")
    if cfg.get("mm_patch_merge_type", "spatial_unpad") != "spatial_unpad":
        problems.append(f"mm_patch_merge_type={cfg.get('mm_patch_merge_type')!r} (needs spatial_unpad)")
    if cfg.get("mm_newline_position", "grid") != "grid":
        problems.append(f"mm_newline_position={cfg.get('mm_newline_position')!r} (needs grid)")
    if cfg.get("mm_vision_select_feature", "patch") not in ("patch", "full"):
        problems.append(f"mm_vision_select_feature={cfg.get('mm_vision_select_feature')!r}")
    vision = cfg.get("vision_config") or {}
    if vision.get("model_type", "siglip_vision_model") != "siglip_vision_model":
        problems.append(f"vision tower model_type={vision.get('model_type')!r} (only SigLIP towers convert)")
    if cfg.get("mm_use_im_start_end"):
        problems.append("mm_use_im_start_end=true")
    if problems:
        raise UnsupportedForNative("this checkpoint cannot be written as transformers' LlavaOnevision: "
                                   + "; ".join(problems) + ". Export the LLaVA-NeXT layout only (--to llava).")


def llava_to_native_config(llava_cfg: dict, vision_cfg: dict, *, image_token_id: int, video_token_id: int,
                           vocab_size: int, dtype: str | None):
    """Build the `LlavaOnevisionConfig` for a LLaVA-NeXT config (with its kept-layer SigLIP config)."""
    from transformers import LlavaOnevisionConfig, Qwen3Config, SiglipVisionConfig

    check_native_compatible({**llava_cfg, "vision_config": vision_cfg})
    text = text_config_dict(llava_cfg)
    text["vocab_size"] = vocab_size
    tie = bool(llava_cfg.get("tie_word_embeddings", text.get("tie_word_embeddings", False)))
    text["tie_word_embeddings"] = tie
    vision = {k: v for k, v in vision_cfg.items() if k not in ("model_type", "transformers_version", "architectures")}
    vision["vision_use_head"] = False
    crop = int(vision["image_size"])
    pinpoints = parse_grid_pinpoints(llava_cfg.get("image_grid_pinpoints") or [[crop, crop]], crop)
    config = LlavaOnevisionConfig(
        vision_config=SiglipVisionConfig(**vision),
        text_config=Qwen3Config(**text),
        image_token_index=image_token_id,
        video_token_index=video_token_id,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        multimodal_projector_bias=True,
        image_grid_pinpoints=[[h, w] for w, h in pinpoints],
        vision_aspect_ratio=llava_cfg["image_aspect_ratio"],
        tie_word_embeddings=tie,
    )
    if dtype:
        config.dtype = dtype
        config.text_config.dtype = dtype
        config.vision_config.dtype = dtype
    return config


def native_to_llava_config(native_cfg: dict, *, dtype: str | None) -> tuple[dict, dict]:
    """LLaVA-NeXT config (and the SigLIP `vision_config` it stores) for a LlavaOnevision config dict."""
    if native_cfg.get("model_type") != "llava_onevision":
        raise ValueError(f"not a LlavaOnevision config (model_type={native_cfg.get('model_type')!r})")
    vision = dict(native_cfg["vision_config"])
    text = dict(native_cfg["text_config"])
    if text.get("model_type") != "qwen3":
        raise ValueError(f"only Qwen3 language models convert to this project's layout; text_config.model_type="
                         f"{text.get('model_type')!r}")
    if vision.get("model_type", "siglip_vision_model") != "siglip_vision_model":
        raise ValueError(f"only SigLIP vision towers convert; vision_config.model_type={vision.get('model_type')!r}")
    problems = []
    if native_cfg.get("vision_feature_layer", -1) != -1:
        problems.append(f"vision_feature_layer={native_cfg.get('vision_feature_layer')}")
    if native_cfg.get("vision_feature_select_strategy", "full") != "full":
        problems.append(f"vision_feature_select_strategy={native_cfg.get('vision_feature_select_strategy')!r}")
    if native_cfg.get("projector_hidden_act", "gelu") != "gelu" or not native_cfg.get("multimodal_projector_bias", True):
        problems.append("a projector other than Linear-GELU-Linear with bias")
    if problems:
        raise ValueError("this LlavaOnevision checkpoint has settings the LLaVA-NeXT layout cannot express: "
                         + ", ".join(problems))
    vision["model_type"] = "siglip_vision_model"
    vision["vision_use_head"] = False
    vision.pop("transformers_version", None)
    crop = int(vision["image_size"])
    pinpoints = native_cfg.get("image_grid_pinpoints") or [[crop, crop]]
    tie = bool(native_cfg.get("tie_word_embeddings", text.get("tie_word_embeddings", False)))
    out = {k: v for k, v in text.items() if k not in ("architectures", "transformers_version", "dtype")}
    out.update({
        "architectures": [LLAVA_ARCHITECTURE],
        "model_type": LLAVA_MODEL_TYPE,
        "tie_word_embeddings": tie,
        "vision_config": vision,
        "mm_vision_tower": native_cfg.get("_name_or_path") or "google/siglip-so400m-patch14-384",
        "mm_hidden_size": int(vision["hidden_size"]),
        "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2,  # of the original tower; the stored vision_config already dropped it
        "mm_vision_select_feature": "patch",
        "mm_patch_merge_type": "spatial_unpad",
        "image_aspect_ratio": native_cfg.get("vision_aspect_ratio", "anyres_max_9"),
        "image_grid_pinpoints": [[int(w), int(h)] for h, w in pinpoints],
        "mm_newline_position": "grid",
        "mm_spatial_pool_mode": "bilinear",
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
        "image_token_index": native_cfg.get("image_token_index"),
        "video_token_index": native_cfg.get("video_token_index"),
    })
    if dtype:
        out["dtype"] = dtype
    return out, vision
