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
