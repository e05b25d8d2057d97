"""Config checks for export: a clear refusal for LLaVA-NeXT settings LlavaOnevision cannot express.

Both config conversions live in `llava.model.hf_mapping` (`llava_next_config_to_hf` and its
reverse `hf_config_to_llava_next`).
"""
from __future__ import annotations

from llava.image.anyres import anyres_max_tiles


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
