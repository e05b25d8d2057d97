"""Reading checkpoint folders into models: the pieces every loader shares.

- `resolve_model_folder`: a local folder or a hub id -> a folder with config.json;
- `load_llava_config`: (config, model class) of a LLaVA-NeXT-layout checkpoint, chosen by its
  `architectures` / `model_type` (never by words in the path), with lmms-eval's overrides;
- `load_full_checkpoint`: a complete LLaVA-NeXT checkpoint (tower weights from `mm_vision_tower`
  when the checkpoint lacks them);
- `llm_with_vision_tower`: the perception model class on a plain LLM folder: LLM weights from the
  folder, tower weights from `mm_vision_tower`, projector and newline left to the caller (stage-0
  assembly, projector-only and LoRA-on-LLM checkpoints);
- `load_text_only`: the LLM of a LLaVA checkpoint without its vision parts.

`llava.model.builder.load_pretrained_model` (the API lmms-eval calls) puts them together.
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from llava.model.language_models import llava_classes_for
from llava.model.vision_towers import load_tower_weights

logger = logging.getLogger(__name__)

# transformers 5 writes SigLIP/CLIP keys without `vision_model.`; LLaVA-NeXT (4.x) with it.
VISION_KEY_MAPPING = {r"^model\.vision_tower\.vision_tower\.(?!vision_model\.)": "model.vision_tower.vision_tower.vision_model."}
VISION_PREFIX = "model.vision_tower."
# Weights a plain LLM folder does not have: the tower (loaded from `mm_vision_tower`), the projector
# and the image newline (fresh, or from a projector-only / LoRA checkpoint).
NOT_IN_LLM = (VISION_PREFIX, "model.mm_projector.", "model.image_newline")


def resolve_model_folder(model_path: str | Path) -> Path:
    """A local folder with config.json, or a hub id fetched to the cache; clear error otherwise."""
    folder = Path(model_path).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder} has no config.json; point model_path at the checkpoint folder "
                                    "(the one with config.json and *.safetensors)")
        return folder
    if str(model_path).startswith(("/", "./", "../", "~")) or folder.suffix:
        raise FileNotFoundError(f"model path {model_path} does not exist")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(model_path), allow_patterns=["*.json", "*.safetensors", "*.txt",
                                                                       "*.jinja", "*.model"]))
    except Exception as err:
        raise FileNotFoundError(f"model path {model_path!r} is neither a local folder nor a reachable hub id "
                                f"({type(err).__name__}: {err})") from err


def _customized(customized_config) -> dict:
    if customized_config is None:
        return {}
    if isinstance(customized_config, dict):
        return dict(customized_config)
    if hasattr(customized_config, "to_dict"):
        return customized_config.to_dict()
    path = Path(customized_config)
    if not path.is_file():
        raise FileNotFoundError(f"customized_config {customized_config} is not a file")
    return json.loads(path.read_text())


def load_llava_config(folder: str | Path, customized_config=None, overwrite_config: dict | None = None):
    """(config, model class) for a checkpoint folder, with lmms-eval's config overrides applied."""
    folder = Path(folder)
    config_dict = json.loads((folder / "config.json").read_text())
    config_dict.update(_customized(customized_config))
    config_class, model_class = llava_classes_for(config_dict, str(folder / "config.json"))
    config_dict.pop("model_type", None)
    config = config_class.from_dict(config_dict)
    for key, value in (overwrite_config or {}).items():
        setattr(config, key, value)
    return config, model_class


@contextlib.contextmanager
def quiet_transformers():
    """Hide transformers' load report (it lists the expected 'missing' tower/projector keys)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def llm_with_vision_tower(llm_folder: str | Path, config, model_class, *, dtype, attn_implementation,
                          device_map=None):
    """The perception model on a plain LLM folder: LLM weights from it, tower weights from the
    config's `mm_vision_tower`; projector and image_newline keep their initial values."""
    with quiet_transformers():
        model, info = model_class.from_pretrained(str(llm_folder), config=config, dtype=dtype,
                                                  attn_implementation=attn_implementation, device_map=device_map,
                                                  output_loading_info=True)
    llm_missing = [k for k in info.get("missing_keys", []) if not k.startswith(NOT_IN_LLM)]
    if llm_missing:
        raise ValueError(f"LLM checkpoint {llm_folder} lacks weights {llm_missing[:5]}")
    load_tower_weights(model.get_vision_tower())
    return model


def load_full_checkpoint(folder: Path, config, model_class, *, dtype, attn_implementation, device_map=None,
                         **kwargs):
    """A complete LLaVA-NeXT checkpoint; tower weights come from `mm_vision_tower` when absent."""
    model, info = model_class.from_pretrained(
        str(folder), config=config, dtype=dtype, attn_implementation=attn_implementation, device_map=device_map,
        key_mapping=VISION_KEY_MAPPING, output_loading_info=True, **kwargs)
    missing = list(info.get("missing_keys", []))
    other = [k for k in missing if not k.startswith(VISION_PREFIX)]
    if other:
        raise ValueError(f"checkpoint {folder} lacks weights {other[:6]}{' ...' if len(other) > 6 else ''}; "
                         "is it a projector-only or LoRA checkpoint? Then pass model_base (the model it was "
                         "trained from)")
    if missing:
        tower = model.get_vision_tower()
        logger.info("checkpoint %s has no vision tower weights; loading them from %s", folder, tower.vision_tower_name)
        load_tower_weights(tower)
    if info.get("unexpected_keys"):
        logger.warning("ignored %d unexpected checkpoint keys, e.g. %s", len(info["unexpected_keys"]),
                       sorted(info["unexpected_keys"])[:3])
    return model


def load_text_only(folder: Path, config, *, dtype, attn_implementation, device_map=None):
    """The LLM of a LLaVA checkpoint without the vision parts (vision keys are ignored)."""
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen3Config

    base_class = Qwen3Config if isinstance(config, Qwen3Config) else Qwen2Config
    text_dict = {k: v for k, v in config.to_dict().items() if k != "model_type"}
    text_config = base_class.from_dict(text_dict)
    text_config.architectures = None
    return AutoModelForCausalLM.from_pretrained(str(folder), config=text_config, dtype=dtype,
                                                attn_implementation=attn_implementation, device_map=device_map)
