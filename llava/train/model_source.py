"""What `--model_name_or_path` points to, decided from its config.json (never from the path).

- a LLaVA-NeXT-layout checkpoint (architectures name a LLaVA class, or the config carries
  `mm_vision_tower`): training continues from it, tower and projector included;
- a plain language model (e.g. Qwen3): a vision tower and a fresh projector are attached (S0).
Paths are checked before anything heavy is built, with a message naming the missing thing.
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


def inspect_model_source(name_or_path: str) -> ModelSource:
    from llava.model.language_models import LLAVA_ARCHITECTURES

    cfg = read_config_json(name_or_path, "--model_name_or_path")
    is_llava = bool(cfg.get("mm_vision_tower")) or any(a in LLAVA_ARCHITECTURES for a in cfg.get("architectures") or [])
    return ModelSource(name_or_path, cfg, is_llava)
