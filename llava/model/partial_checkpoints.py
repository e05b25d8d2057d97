"""Checkpoints that need their base model: LoRA adapters and projector-only (stage-1) saves.

- LoRA: `adapter_config.json` (+ adapter weights) and optionally `non_lora_trainables.bin` /
  `.safetensors` (projector etc., keys may carry peft's `base_model.model.` prefix), plus the LLaVA
  config.json. The base is either a full LLaVA checkpoint or the plain LLM; the adapter is merged.
- projector-only: `mm_projector.safetensors` / `mm_projector.bin` + the LLaVA config.json; the base
  is the plain LLM, the tower comes from `mm_vision_tower`.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from llava.model.loading import llm_with_vision_tower, load_full_checkpoint, load_llava_config, resolve_model_folder

logger = logging.getLogger(__name__)

_PEFT_PREFIX = "base_model.model."


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from llava.model.weights import read_safetensors, read_torch_weights

    return read_safetensors(path) if path.suffix == ".safetensors" else read_torch_weights(path)


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _strip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(_PEFT_PREFIX):] if k.startswith(_PEFT_PREFIX) else k: v for k, v in state.items()}


def load_with_base(folder: Path, model_base, *, dtype, attn_implementation, device_map, overwrite_config=None):
    """The model of a LoRA or projector-only checkpoint `folder`, on its base model `model_base`."""
    base = resolve_model_folder(model_base)
    config, model_class = load_llava_config(folder, overwrite_config=overwrite_config)
    base_is_llava = bool(json.loads((base / "config.json").read_text()).get("mm_vision_tower"))

    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        if base_is_llava:
            base_config, base_class = load_llava_config(base)
            model = load_full_checkpoint(base, base_config, base_class, dtype=dtype,
                                         attn_implementation=attn_implementation, device_map=device_map)
        else:
            model = llm_with_vision_tower(base, config, model_class, dtype=dtype,
                                          attn_implementation=attn_implementation, device_map=device_map)
        extra = _first(folder, ("non_lora_trainables.safetensors", "non_lora_trainables.bin"))
        if extra is not None:
            missing, unexpected = model.load_state_dict(_strip(_read_tensors(extra)), strict=False)
            if unexpected:
                raise ValueError(f"{extra} has keys the model does not know: {unexpected[:5]}")
        elif not base_is_llava:
            raise FileNotFoundError(f"{folder} is a LoRA adapter on a plain LLM but has no non_lora_trainables "
                                    "file with the projector weights")
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
        logger.info("merged LoRA adapter %s into %s", folder, base)
        return model

    projector = _first(folder, ("mm_projector.safetensors", "mm_projector.bin"))
    if projector is None:
        raise FileNotFoundError(f"{folder} has neither adapter_config.json (LoRA) nor mm_projector.safetensors/.bin "
                                "(projector-only); for a full checkpoint leave model_base=None")
    if base_is_llava:
        raise ValueError(f"model_base {base} is already a LLaVA checkpoint; a projector-only checkpoint needs the plain LLM")
    model = llm_with_vision_tower(base, config, model_class, dtype=dtype, attn_implementation=attn_implementation,
                                  device_map=device_map)
    state = {k.split("mm_projector.", 1)[1]: v for k, v in _strip(_read_tensors(projector)).items() if "mm_projector." in k}
    model.get_model().mm_projector.load_state_dict(state)
    if getattr(model.get_model(), "image_newline", None) is not None:
        logger.warning("projector-only checkpoint %s carries no image_newline; it stays freshly initialised", folder)
    return model
