"""Config checks and the reverse config conversion (transformers LlavaOnevision -> LLaVA-NeXT).

The forward direction is `llava.model.hf_mapping.llava_next_config_to_hf` (helper A's model code);
this module adds what export needs on top: a clear refusal for settings LlavaOnevision cannot
express, and the LLaVA-NeXT `config.json` for an imported native checkpoint.
"""
from __future__ import annotations

from llava.image.anyres import anyres_max_tiles

LLAVA_ARCHITECTURE = "LlavaQwen3ForCausalLM"
LLAVA_MODEL_TYPE = "llava_qwen_3"


class UnsupportedForNative(ValueError):
    """The LLaVA-NeXT settings have no equivalent in transformers' LlavaOnevision."""


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
    projector_bias = native_cfg.get("multimodal_projector_bias", True)
    if native_cfg.get("projector_hidden_act", "gelu") != "gelu" or not projector_bias:
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
