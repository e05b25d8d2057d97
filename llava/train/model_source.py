"""What `--model_name_or_path` points to, decided from its config.json (never from the path).

- a LLaVA-NeXT-layout checkpoint (architectures name a LLaVA class, or the config carries
  `mm_vision_tower`): training continues from it, tower and projector included;
- a plain language model (e.g. Qwen3): a vision tower and a fresh projector are attached (S0).
Paths, the registry keys the config names (LLM architecture / model_type, vision tower, projector)
and the weight files' headers are checked before anything heavy is built, each with a one-line
message naming the file, the key, the bad value and the known values.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class ModelPathError(FileNotFoundError):
    pass


@dataclass
class ModelSource:
    path: str
    config: dict
    is_llava: bool

    @property
    def kind(self) -> str:
        return "llava_checkpoint" if self.is_llava else "language_model"


def _looks_like_hub_id(name: str) -> bool:
    return (not name.startswith((".", "/", "~")) and name.count("/") <= 1 and "\\" not in name
            and not name.endswith((".json", ".safetensors")))


def read_config_json(name_or_path: str, what: str) -> dict:
    """config.json of a local folder or a Hub repo (cache first; honours HF_HUB_OFFLINE)."""
    local = Path(os.path.expanduser(name_or_path))
    if local.exists():
        cfg = local / "config.json"
        if not cfg.is_file():
            raise ModelPathError(f"{what} {name_or_path}: the folder has no config.json (expected a model folder "
                                 "saved with save_pretrained, or a previous stage's output)")
        return json.loads(cfg.read_text(encoding="utf-8"))
    if not _looks_like_hub_id(name_or_path):
        raise ModelPathError(f"{what} {name_or_path}: the folder does not exist")
    from huggingface_hub import hf_hub_download

    try:
        return json.loads(Path(hf_hub_download(name_or_path, "config.json")).read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001 - network, auth, offline, missing repo: one message
        raise ModelPathError(
            f"{what} {name_or_path}: not a local folder, and its config.json could not be fetched from the "
            f"Hugging Face Hub ({type(e).__name__}: {str(e)[:200]}). Check the name, log in for gated models, "
            "or download it first and pass the folder.") from None


def inspect_model_source(name_or_path: str, perception: bool = False) -> ModelSource:
    """`perception`: the config must name an LLM, tower and projector that the perception model's
    registries know (the text-only path takes any causal LM)."""
    from llava.model.language_models import LLAVA_ARCHITECTURES
    from llava.model.weights import check_weight_files

    cfg = read_config_json(name_or_path, "--model_name_or_path")
    is_llava = bool(cfg.get("mm_vision_tower")) or any(a in LLAVA_ARCHITECTURES for a in cfg.get("architectures") or [])
    source = ModelSource(name_or_path, cfg, is_llava)
    if perception:
        check_registry_keys(source)
    check_weight_files(os.path.expanduser(name_or_path))
    return source


def check_registry_keys(source: ModelSource) -> None:
    """Every class the config names is known (exact keys), as the model builders look it up."""
    from llava.model.language_models import LLAVA_ARCHITECTURES, MODEL_TYPE_TO_ARCHITECTURE
    from llava.model.multimodal import MM_DEFAULTS
    from llava.model.projectors import check_projector_type

    cfg, where = source.config, _config_path(source.path)
    architectures = cfg.get("architectures") or []
    if not any(a in LLAVA_ARCHITECTURES for a in architectures) and cfg.get("model_type") not in MODEL_TYPE_TO_ARCHITECTURE:
        raise ValueError(f"{where}: model_type {cfg.get('model_type')!r} (architectures {architectures}) is not a "
                         f"supported LLM; known model_type values: {', '.join(sorted(MODEL_TYPE_TO_ARCHITECTURE))}; "
                         f"known architectures: {', '.join(sorted(LLAVA_ARCHITECTURES))}")
    if not source.is_llava:
        return
    projector = cfg.get("mm_projector_type") or MM_DEFAULTS["mm_projector_type"]
    check_projector_type(projector, where)
    _check_vision_tower(cfg, where)


def _check_vision_tower(cfg: dict, where: str) -> None:
    from llava.model.vision_towers import MODEL_TYPE_TO_KIND, resolve_vision_tower

    vision_config = cfg.get("vision_config")
    if isinstance(vision_config, dict):  # the tower is built from it; mm_vision_tower is only its name
        if vision_config.get("model_type") not in MODEL_TYPE_TO_KIND:
            raise ValueError(f"{where}: unknown vision_config.model_type {vision_config.get('model_type')!r} (vision "
                             f"tower {cfg.get('mm_vision_tower')!r}); known: {', '.join(sorted(MODEL_TYPE_TO_KIND))}")
        return
    try:
        resolve_vision_tower(cfg.get("mm_vision_tower") or "")
    except (ValueError, FileNotFoundError) as e:
        raise type(e)(f"{where}: mm_vision_tower {cfg.get('mm_vision_tower')!r} (no vision_config to build it "
                      f"from): {e}") from None


def _config_path(name_or_path: str) -> str:
    local = Path(os.path.expanduser(name_or_path))
    return str(local / "config.json") if local.exists() else f"{name_or_path}/config.json"
