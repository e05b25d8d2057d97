"""Find and read what to export: a training output folder, a `checkpoint-N`, or a native folder.

Weights come back as one CPU state dict with canonical LLaVA-NeXT keys, whatever the source:
consolidated safetensors (sharded or not), DeepSpeed ZeRO shards (consolidated with DeepSpeed's own
`get_fp32_state_dict_from_zero_checkpoint`), or LoRA (adapter merged into the base weights).
ZeRO shards are pickles: they are unpickled restricted to weights (llava/utils/safe_unpickle.py)
unless the user trusts the checkpoint (`--trust-checkpoint`).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch


logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_GLOBAL_STEP = re.compile(r"^global_step(\d+)$")
_WEIGHT_NAMES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
TRUST_FLAG = "--trust-checkpoint"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
                   "added_tokens.json", "chat_template.jinja", "chat_template.json")


@dataclass
class Source:
    kind: str                      # "llava" | "native"
    config: dict                   # config.json of the source
    state_dict: dict[str, torch.Tensor]
    tokenizer_dir: Path            # folder holding the tokenizer files
    weights_from: str              # human-readable: where the weights came from
    run_dir: Path | None = None    # training output folder, for the model card
    extra_dirs: list[Path] = field(default_factory=list)  # where to look for preprocessor_config.json


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The `checkpoint-N` folder with the largest N (None when there is none)."""
    found = []
    for p in Path(output_dir).iterdir() if Path(output_dir).is_dir() else []:
        m = _CHECKPOINT.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def _has_weights(folder: Path) -> bool:
    if any((folder / n).is_file() for n in _WEIGHT_NAMES):
        return _count_tensors(folder) > 0
    return False


def _count_tensors(folder: Path) -> int:
    """Trainer writes an empty model.safetensors under ZeRO-3 without 16-bit gathering: treat as absent."""
    from llava.model.weights import safetensors_keys

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return len(_read_json(index, "")["weight_map"])
    single = folder / "model.safetensors"
    if single.is_file():
        return len(safetensors_keys(single))
    return 1  # .bin: read (tensors only) when exported


def _zero_tag_dir(folder: Path) -> Path | None:
    latest = folder / "latest"
    if latest.is_file():
        tag = latest.read_text().strip()
        if (folder / tag).is_dir():
            return folder / tag
    steps = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _GLOBAL_STEP.match(p.name)) and p.is_dir()]
    return max(steps)[1] if steps else None


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: {what}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None


def consolidate_zero(folder: Path, trust: bool = False) -> dict[str, torch.Tensor]:
    """fp32 state dict from DeepSpeed ZeRO shards, using DeepSpeed's own consolidation; the shards
    are unpickled restricted to weights unless `trust`."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    from llava.utils.safe_unpickle import restricted_torch_load

    tag_dir = _zero_tag_dir(folder)
    if tag_dir is None:
        raise FileNotFoundError(f"{folder} has no global_stepN/ DeepSpeed shards")
    logger.info("consolidating DeepSpeed ZeRO shards in %s", tag_dir)
    with restricted_torch_load(TRUST_FLAG, trust=trust, what=str(tag_dir)) as guard:
        state = dict(get_fp32_state_dict_from_zero_checkpoint(str(folder), tag=tag_dir.name))
    guard.require_read(sorted(tag_dir.glob("*_model_states.pt")), "DeepSpeed's zero_to_fp32")
    return state


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    from llava.model.weights import load_state_dict

    return load_state_dict(folder)


def merge_lora(state: dict[str, torch.Tensor], adapter_config: dict) -> dict[str, torch.Tensor]:
    """Fold peft LoRA weights into their base layers: W += (B @ A) * scaling.

    Keys come in peft's naming (`base_model.model.<name>.base_layer.weight`, `...lora_A.<adapter>.weight`);
    scaling is lora_alpha / r (lora_alpha / sqrt(r) with rslora), as peft computes it.
    """
    r, alpha = int(adapter_config["r"]), float(adapter_config["lora_alpha"])
    scaling = alpha / (r ** 0.5) if adapter_config.get("use_rslora") else alpha / r
    fan_in_fan_out = bool(adapter_config.get("fan_in_fan_out", False))
    prefix = "base_model.model."
    plain: dict[str, torch.Tensor] = {}
    lora_a: dict[str, torch.Tensor] = {}
    lora_b: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key[len(prefix):] if key.startswith(prefix) else key
        m = re.match(r"^(.*)\.lora_([AB])(?:\.[^.]+)?\.weight$", key)
        if m:
            (lora_a if m.group(2) == "A" else lora_b)[m.group(1)] = value
            continue
        if ".lora_" in key or ".lora_embedding_" in key:
            raise ValueError(f"unsupported LoRA tensor {key!r} (only Linear LoRA adapters are merged)")
        plain[key.replace(".base_layer.", ".")] = value
    for module, a in lora_a.items():
        b = lora_b.get(module)
        weight_key = module + ".weight"
        if b is None or weight_key not in plain:
            raise KeyError(f"LoRA adapter for {module!r} is incomplete (lora_B or base weight missing)")
        delta = (b.float() @ a.float()) * scaling
        base = plain[weight_key]
        plain[weight_key] = (base.float() + (delta.T if fan_in_fan_out else delta)).to(base.dtype)
    return plain


def read_source(path: str | Path, prefer_zero: bool = False, trust: bool = False) -> Source:
    """Read an export source. See the module docstring for what is accepted. With `prefer_zero`,
    consolidated weights next to the shards are not read at all (they may be the broken part)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: pass a training output folder, a checkpoint-N folder "
                                "or a transformers LlavaOnevision folder")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is a file: pass the folder that holds config.json")
    config_path = path / "config.json"
    run_dir = path.parent if _CHECKPOINT.match(path.name) else path
    if config_path.is_file():
        cfg = _read_json(config_path, "")
        if cfg.get("model_type") == "llava_onevision":
            return Source(kind="native", config=cfg, state_dict=load_weights(path), tokenizer_dir=path,
                          weights_from=f"{path} (transformers LlavaOnevision)", extra_dirs=[path])
    ckpt = path
    if _zero_tag_dir(path) is None and not (path / "adapter_config.json").is_file() and not _has_weights(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"{path} has no weights (model.safetensors), no DeepSpeed global_stepN/ shards, "
                                    "no LoRA adapter and no checkpoint-N/ folder: is this a training output folder?")
        logger.info("using the latest checkpoint %s", latest)
        ckpt = latest
    adapter_cfg = _read_json(ckpt / "adapter_config.json", "") if (ckpt / "adapter_config.json").is_file() else None
    base = _adapter_base(ckpt, adapter_cfg) if adapter_cfg is not None and not _has_weights(ckpt) else None
    search = [ckpt, ckpt.parent] + ([base] if base else [])
    cfg_dir = next((d for d in search if (d / "config.json").is_file()), None)
    if cfg_dir is None:
        raise FileNotFoundError(f"no config.json in {ckpt} or {ckpt.parent}: the LLaVA-NeXT config is needed")
    cfg = _read_json(cfg_dir / "config.json", "")

    zero_dir = _zero_tag_dir(ckpt)
    if not (prefer_zero and zero_dir is not None) and _has_weights_or_hint(ckpt, zero_dir):
        state, origin = _load_weights_or_hint(ckpt, zero_dir), f"{ckpt} (consolidated safetensors)"
    elif zero_dir is not None:
        state = consolidate_zero(ckpt, trust=trust)
        origin = f"{zero_dir} (DeepSpeed ZeRO shards, consolidated by DeepSpeed)"
    elif base is not None:  # a peft adapter folder: base weights + adapter weights
        state = {"base_model.model." + k: v for k, v in load_weights(base).items()}
        state.update(load_weights_file(ckpt))
        origin = f"{base} + LoRA adapter {ckpt}"
    else:
        raise FileNotFoundError(f"{ckpt} holds neither weights nor DeepSpeed shards")

    if any(".lora_A." in k or k.endswith(".lora_A.weight") for k in state):
        if adapter_cfg is None:
            raise FileNotFoundError(f"{ckpt} holds LoRA weights but no adapter_config.json (needed for r and alpha)")
        state, origin = merge_lora(state, adapter_cfg), origin + " (LoRA merged)"
    state = {k[len("base_model.model."):] if k.startswith("base_model.model.") else k: v for k, v in state.items()}
    if cfg.get("tie_word_embeddings") and "lm_head.weight" in state and "model.embed_tokens.weight" in state:
        # DeepSpeed's consolidation returns the tied head as its own entry; LLaVA-NeXT files omit it.
        if torch.equal(state["lm_head.weight"], state["model.embed_tokens.weight"]):
            del state["lm_head.weight"]
    _check_complete(state, origin)
    tok_dir = next((d for d in search if (d / "tokenizer_config.json").is_file()), None)
    if tok_dir is None:
        raise FileNotFoundError(f"no tokenizer files in {ckpt} or {ckpt.parent}; save the tokenizer with the "
                                "checkpoint or copy it next to config.json")
    return Source(kind="llava", config=cfg, state_dict=state, tokenizer_dir=tok_dir,
                  weights_from=origin, run_dir=run_dir, extra_dirs=search)


def _with_zero_hint(error: ValueError, zero_dir: Path | None) -> ValueError:
    if zero_dir is None:
        return error
    return type(error)(f"{error}; or export from the intact DeepSpeed shards in {zero_dir.name}/ with --from-zero")


def _has_weights_or_hint(ckpt: Path, zero_dir: Path | None) -> bool:
    from llava.model.weights import CorruptWeightsError

    try:
        return _has_weights(ckpt)
    except CorruptWeightsError as e:
        raise _with_zero_hint(e, zero_dir) from None


def _load_weights_or_hint(ckpt: Path, zero_dir: Path | None) -> dict[str, torch.Tensor]:
    from llava.model.weights import CorruptWeightsError

    try:
        return load_weights(ckpt)
    except CorruptWeightsError as e:
        raise _with_zero_hint(e, zero_dir) from None


def _adapter_base(ckpt: Path, adapter_cfg: dict) -> Path:
    base = adapter_cfg.get("base_model_name_or_path")
    if not base or not Path(base).is_dir():
        raise FileNotFoundError(f"LoRA adapter in {ckpt}: its base model {base!r} is not a local folder; download "
                                "it (hf download ...) and set base_model_name_or_path in adapter_config.json")
    return Path(base)


def _check_complete(state: dict, origin: str) -> None:
    """Refuse checkpoints without the parts every LLaVA model has (e.g. a projector-only save)."""
    missing = [k for k in ("model.embed_tokens.weight", "model.norm.weight") if k not in state]
    if missing:
        raise KeyError(f"weights from {origin} lack {missing}: not a complete LLaVA-NeXT checkpoint (a projector-only "
                       "or partial save? export the full model, e.g. the stage's final output folder)")


def load_weights_file(ckpt: Path) -> dict[str, torch.Tensor]:
    from llava.model.weights import read_safetensors

    path = ckpt / "adapter_model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (peft writes the adapter weights there)")
    out = {}
    for k, v in read_safetensors(path).items():
        # peft saves without the adapter name: `...lora_A.weight`; the base layer keys lack `.base_layer.`
        out[k if k.startswith("base_model.model.") else "base_model.model." + k] = v
    return out
