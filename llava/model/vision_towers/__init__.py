"""Vision tower registry: the tower class is chosen by exact key / config `model_type`.

`mm_vision_tower` may be
  - a local folder whose config.json has model_type siglip / siglip_vision_model / clip / clip_vision_model,
  - a hub id (its config.json says the type; a few well-known ids also work offline, see KNOWN_HUB_TOWERS),
  - `open_clip:<model name>` or `hf-hub:<org/name>` for open_clip.
Nothing is decided from words inside a path.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from llava.model.vision_towers.base import VisionTower
from llava.model.vision_towers.clip import ClipVisionTower
from llava.model.vision_towers.open_clip import OpenClipVisionTower
from llava.model.vision_towers.siglip import SO400M_PATCH14_384, SiglipVisionTower

logger = logging.getLogger(__name__)

VISION_TOWERS: dict[str, type[VisionTower]] = {
    "siglip": SiglipVisionTower,
    "clip": ClipVisionTower,
    "open_clip": OpenClipVisionTower,
}
MODEL_TYPE_TO_KIND = {
    "siglip": "siglip",
    "siglip_vision_model": "siglip",
    "clip": "clip",
    "clip_vision_model": "clip",
    "open_clip": "open_clip",
}
OPEN_CLIP_PREFIXES = ("open_clip:", "hf-hub:")

_CLIP_L14_336 = {"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
                 "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 336, "patch_size": 14,
                 "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": 768}
# Original (not yet layer-dropped) vision configs of towers used by released checkpoints, so those
# checkpoints load offline: their tower weights are in the checkpoint, only the shape is needed.
KNOWN_HUB_TOWERS: dict[str, dict] = {
    "google/siglip-so400m-patch14-384": SO400M_PATCH14_384,
    "openai/clip-vit-large-patch14-336": _CLIP_L14_336,
}


def _kind_of(model_type: str | None, where: str) -> str:
    kind = MODEL_TYPE_TO_KIND.get(model_type or "")
    if kind is None:
        raise ValueError(f"{where}: vision tower model_type {model_type!r} is not supported; "
                         f"supported: {', '.join(sorted(MODEL_TYPE_TO_KIND))}")
    return kind


def _hub_file(repo_id: str, filename: str) -> Path | None:
    """Path of a hub file (cache or download), or None when the hub cannot be reached."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename))
    except Exception as err:  # offline, no such repo, no permission: the caller decides what to do
        logger.info("could not fetch %s from %s: %s", filename, repo_id, type(err).__name__)
        return None


def resolve_vision_tower(name: str) -> tuple[str, dict | None, Path | None]:
    """(kind, original config dict or None, local folder or None) for an `mm_vision_tower` value."""
    if not name:
        raise ValueError("mm_vision_tower is empty; give a SigLIP/CLIP folder or hub id")
    if name.startswith(OPEN_CLIP_PREFIXES):
        return "open_clip", None, None
    folder = Path(name).expanduser()
    if folder.is_dir():
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"vision tower folder {folder} has no config.json")
        config = json.loads(config_path.read_text())
        return _kind_of(config.get("model_type"), str(config_path)), config, folder
    if name.startswith(("/", "./", "../", "~")):
        raise FileNotFoundError(f"vision tower folder {name} does not exist")
    config_path = _hub_file(name, "config.json")
    if config_path is not None:
        config = json.loads(config_path.read_text())
        return _kind_of(config.get("model_type"), f"{name}/config.json"), config, config_path.parent
    if name in KNOWN_HUB_TOWERS:
        config = KNOWN_HUB_TOWERS[name]
        return _kind_of(config["model_type"], name), dict(config), None
    raise FileNotFoundError(f"vision tower {name!r} is neither a local folder nor a reachable hub id "
                            "(offline?); download it to a folder and pass that path")


def load_tower_weights(tower: VisionTower) -> None:
    """Copy the pretrained weights named by the tower's `vision_tower_name` into it (a local folder
    or a hub id; open_clip towers fetch their own)."""
    if tower.kind == "open_clip":
        tower.load_pretrained_weights()
        return
    local = Path(tower.vision_tower_name).expanduser()
    tower.load_pretrained_weights(_weights_folder(tower.vision_tower_name, local if local.is_dir() else None))


def _weights_folder(name: str, folder: Path | None) -> Path:
    if folder is not None and (any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))):
        return folder
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, allow_patterns=["*.json", "*.safetensors", "*.txt"]))
    except Exception as err:
        raise FileNotFoundError(f"cannot get weights for vision tower {name!r}: {err}. Download it to a "
                                "local folder and pass that folder as the vision tower") from err


def tower_module_config(vision_tower: str) -> dict | None:
    """The tower config as LLaVA builds the module (SigLIP: last layer dropped, no head), without
    building it; None for open_clip (its shape is only known once built)."""
    from llava.model.vision_towers.clip import _vision_config_dict as clip_vision_dict
    from llava.model.vision_towers.siglip import drop_last_layer

    kind, config, _ = resolve_vision_tower(vision_tower)
    if kind == "siglip":
        return drop_last_layer(config)
    if kind == "clip":
        return {**clip_vision_dict(config), "model_type": "clip_vision_model"}
    return None


def build_vision_tower(vision_tower: str, *, vision_config: dict | None = None, load_weights: bool = True,
                       attn_implementation: str | None = None, select_layer: int = -2,
                       select_feature: str = "patch") -> VisionTower:
    """Build the tower named by `vision_tower`.

    vision_config: the tower config exactly as the module was built (what checkpoints store as
        `vision_config`); when given it is used as-is (no layer dropping), so a checkpoint loads
        without reaching the original tower.
    load_weights: copy pretrained tower weights in (False when a checkpoint will fill them:
        LLaVA's `delay_load`).
    """
    extra = {"attn_implementation": attn_implementation}
    if vision_config is not None:
        kind = _kind_of(vision_config.get("model_type"), "vision_config")
        local = Path(vision_tower) if vision_tower and Path(vision_tower).is_dir() else None
        cls = VISION_TOWERS[kind]
        if kind == "clip":
            extra.update(select_layer=select_layer, select_feature=select_feature)
        if kind == "open_clip":
            return cls(vision_tower, vision_config, load_pretrained=load_weights, **extra)
        tower = cls(vision_tower, vision_config, source_folder=local, **extra)
        if load_weights:
            tower.load_pretrained_weights(_weights_folder(vision_tower, local))
        return tower
    kind, config, folder = resolve_vision_tower(vision_tower)
    cls = VISION_TOWERS[kind]
    if kind == "clip":
        extra.update(select_layer=select_layer, select_feature=select_feature)
    if kind == "open_clip":
        return cls(vision_tower, None, load_pretrained=load_weights, **extra)
    tower = cls.from_full_config(vision_tower, config, source_folder=folder, **extra)
    if load_weights:
        tower.load_pretrained_weights(_weights_folder(vision_tower, folder))
    return tower


__all__ = ["VisionTower", "SiglipVisionTower", "ClipVisionTower", "OpenClipVisionTower", "VISION_TOWERS",
           "MODEL_TYPE_TO_KIND", "KNOWN_HUB_TOWERS", "build_vision_tower", "load_tower_weights",
           "resolve_vision_tower", "tower_module_config"]
