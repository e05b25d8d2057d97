"""State-dict and config mapping between the LLaVA-NeXT layout and transformers'
`LlavaOnevisionForConditionalGeneration` (pure functions; the export CLI builds on them).

The transformers side is written in the hub's legacy layout (`language_model.model.*`,
`language_model.lm_head.*`, `vision_tower.vision_model.*`, `multi_modal_projector.*`,
`image_newline`), which vLLM/SGLang read and which transformers 5 remaps on load.
`hf_to_llava_next_state_dict` also accepts transformers 5's own layout (`model.language_model.*`, ...).
"""
from __future__ import annotations

import copy

import torch

_LN_TOWER = "model.vision_tower.vision_tower."
_PROJ = {"model.mm_projector.0.": "multi_modal_projector.linear_1.",
         "model.mm_projector.2.": "multi_modal_projector.linear_2."}
_LLAVA_LLM_TYPES = {"llava_qwen_3": "qwen3", "qwen3": "qwen3", "llava_qwen": "qwen2", "qwen2": "qwen2"}
# Qwen3's <image>/<video> ids in converted checkpoints: 151646/151647 are taken by other Qwen3 tokens.
DEFAULT_IMAGE_TOKEN_ID = 151669
DEFAULT_VIDEO_TOKEN_ID = 151670
# What an imported LlavaOnevision (Qwen3) checkpoint becomes in this project's layout.
LLAVA_ARCHITECTURE = "LlavaQwen3ForCausalLM"
LLAVA_MODEL_TYPE = "llava_qwen_3"


def llava_next_to_hf_state_dict(state_dict: dict[str, torch.Tensor], tie_word_embeddings: bool) -> dict[str, torch.Tensor]:
    """LLaVA-NeXT keys -> legacy-layout LlavaOnevision keys. `lm_head` is filled from the embedding
    when the checkpoint omits it (tied embeddings)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(_LN_TOWER):
            rest = key[len(_LN_TOWER):]
            rest = rest[len("vision_model."):] if rest.startswith("vision_model.") else rest
            if rest.startswith("head."):
                continue  # LLaVA-OneVision drops the pooling head
            out["vision_tower.vision_model." + rest] = value
        elif key.startswith("model.mm_projector."):
            prefix = next((p for p in _PROJ if key.startswith(p)), None)
            if prefix is None:
                raise ValueError(f"{key}: only the mlp2x_gelu projector (indices 0 and 2) maps to LlavaOnevision")
            out[_PROJ[prefix] + key[len(prefix):]] = value
        elif key == "model.image_newline":
            out["image_newline"] = value
        elif key.startswith("model."):
            out["language_model." + key] = value
        elif key.startswith("lm_head."):
            out["language_model." + key] = value
        else:
            raise ValueError(f"unexpected LLaVA-NeXT key {key!r}")
    if "language_model.lm_head.weight" not in out:
        if not tie_word_embeddings:
            raise ValueError("checkpoint has no lm_head.weight but tie_word_embeddings is false")
        out["language_model.lm_head.weight"] = out["language_model.model.embed_tokens.weight"]
    if "image_newline" not in out:
        raise ValueError("checkpoint has no model.image_newline (LlavaOnevision needs spatial_unpad models)")
    return out


def hf_to_llava_next_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LlavaOnevision keys (legacy hub layout or transformers 5 layout) -> LLaVA-NeXT keys."""
    out: dict[str, torch.Tensor] = {}
    renames = [
        ("language_model.model.", "model."), ("model.language_model.", "model."),
        ("language_model.lm_head.", "lm_head."), ("lm_head.", "lm_head."),
        ("vision_tower.vision_model.", _LN_TOWER + "vision_model."),
        ("model.vision_tower.vision_model.", _LN_TOWER + "vision_model."),
        ("model.vision_tower.", _LN_TOWER + "vision_model."), ("vision_tower.", _LN_TOWER + "vision_model."),
        ("multi_modal_projector.linear_1.", "model.mm_projector.0."),
        ("model.multi_modal_projector.linear_1.", "model.mm_projector.0."),
        ("multi_modal_projector.linear_2.", "model.mm_projector.2."),
        ("model.multi_modal_projector.linear_2.", "model.mm_projector.2."),
        ("image_newline", "model.image_newline"), ("model.image_newline", "model.image_newline"),
    ]
    for key, value in state_dict.items():
        for src, dst in renames:
            if key == src or key.startswith(src):
                out[dst + key[len(src):]] = value
                break
        else:
            raise ValueError(f"unexpected LlavaOnevision key {key!r}")
    return out


def _text_config(config_dict: dict) -> dict:
    from transformers import Qwen2Config, Qwen3Config

    text_type = _LLAVA_LLM_TYPES.get(config_dict.get("model_type"))
    if text_type is None:
        raise ValueError(f"model_type {config_dict.get('model_type')!r} is not a LLaVA Qwen2/Qwen3 checkpoint")
    known = set((Qwen3Config if text_type == "qwen3" else Qwen2Config)().to_dict())
    text = {k: copy.deepcopy(v) for k, v in config_dict.items() if k in known}
    text["model_type"] = text_type
    text["architectures"] = ["Qwen3ForCausalLM" if text_type == "qwen3" else "Qwen2ForCausalLM"]
    return text


def llava_next_config_to_hf(config_dict: dict, vision_config_dict: dict | None = None, *,
                            image_token_index: int = DEFAULT_IMAGE_TOKEN_ID,
                            video_token_index: int = DEFAULT_VIDEO_TOKEN_ID) -> dict:
    """A LlavaOnevisionConfig dict for a LLaVA-NeXT config.json dict.

    vision_config_dict: the tower config as used (last layer already dropped, no head); defaults to
    the checkpoint's stored `vision_config`, else the built-in so400m shape for that hub id.
    Pinpoints become (height, width) as transformers expects.
    """
    from llava.image.anyres import parse_grid_pinpoints
    from llava.model.vision_towers import KNOWN_HUB_TOWERS
    from llava.model.vision_towers.siglip import drop_last_layer

    if config_dict.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        raise ValueError("LlavaOnevision supports only the mlp2x_gelu projector")
    if "unpad" not in (config_dict.get("mm_patch_merge_type") or ""):
        raise ValueError("LlavaOnevision needs mm_patch_merge_type spatial_unpad")
    vision = vision_config_dict or config_dict.get("vision_config")
    if vision is None:
        tower = config_dict.get("mm_vision_tower")
        if tower not in KNOWN_HUB_TOWERS:
            raise ValueError(f"config has no vision_config and tower {tower!r} is not a known hub id; pass vision_config_dict")
        vision = drop_last_layer(KNOWN_HUB_TOWERS[tower])
    vision = dict(vision)
    if vision.get("model_type") not in ("siglip_vision_model", "siglip"):
        raise ValueError(f"LlavaOnevision export supports SigLIP towers, got {vision.get('model_type')!r}")
    vision["model_type"] = "siglip_vision_model"
    vision["vision_use_head"] = False
    image_size = int(vision["image_size"])
    pinpoints = parse_grid_pinpoints(config_dict.get("image_grid_pinpoints") or [[image_size, image_size]], image_size)
    text = _text_config(config_dict)
    return {
        "architectures": ["LlavaOnevisionForConditionalGeneration"],
        "model_type": "llava_onevision",
        "text_config": text,
        "vision_config": vision,
        "vision_feature_select_strategy": "full",
        "vision_feature_layer": -1,
        "vision_aspect_ratio": config_dict.get("image_aspect_ratio") or "anyres_max_9",
        "image_grid_pinpoints": [[h, w] for w, h in pinpoints],
        "image_token_index": image_token_index,
        "video_token_index": video_token_index,
        "projector_hidden_act": "gelu",
        "multimodal_projector_bias": True,
        "tie_word_embeddings": bool(config_dict.get("tie_word_embeddings", False)),
    }


def hf_config_to_llava_next(native_cfg: dict, *, dtype: str | None = None) -> tuple[dict, dict]:
    """LLaVA-NeXT config (and the SigLIP `vision_config` it stores) for a LlavaOnevision config dict:
    the reverse of `llava_next_config_to_hf` (Qwen3 language models only)."""
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
