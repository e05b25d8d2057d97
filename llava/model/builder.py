"""Load LLaVA-NeXT-layout checkpoints (the API lmms-eval's `llava_onevision` wrapper calls).

    tokenizer, model, image_processor, context_len = load_pretrained_model(path, None, name,
        device_map="auto", attn_implementation="sdpa", overwrite_config={...})

The model class comes from the checkpoint's `architectures` / `model_type` (never from words in
the path). The vision tower is built from the checkpoint's own config (`vision_config`, saved by
this package) or from `mm_vision_tower` (a local folder, a hub id, or a well-known hub id whose
shape is built in), and its weights come from the checkpoint (`model.vision_tower.vision_tower.*`,
with or without the `vision_model.` level). `trust_remote_code` is never used.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from llava.model.attention import choose_attn_implementation
from llava.model.language_models import llava_classes_for
from llava.model.weights import check_weight_files

logger = logging.getLogger(__name__)

_DTYPES = {"float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32,
           "float": torch.float32}
# transformers 5 writes SigLIP/CLIP keys without `vision_model.`; LLaVA-NeXT (4.x) with it.
VISION_KEY_MAPPING = {r"^model\.vision_tower\.vision_tower\.(?!vision_model\.)": "model.vision_tower.vision_tower.vision_model."}
_VISION_PREFIX = "model.vision_tower."


def resolve_dtype(torch_dtype) -> torch.dtype | str:
    if torch_dtype is None or torch_dtype == "auto":
        return "auto"
    if isinstance(torch_dtype, torch.dtype):
        return torch_dtype
    if torch_dtype not in _DTYPES:
        raise ValueError(f"torch_dtype {torch_dtype!r} not understood; use one of {sorted(_DTYPES)} or 'auto'")
    return _DTYPES[torch_dtype]


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
                                                                       "*.jinja", "*.model", "*.py.never"]))
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


def _device_map(device_map):
    if device_map in ("auto", "balanced") and not torch.cuda.is_available():
        return None  # everything on CPU; avoids accelerate's offload machinery
    return device_map


def _quantization(load_8bit: bool, load_4bit: bool, dtype):
    if not (load_8bit or load_4bit):
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise ImportError("load_8bit/load_4bit need bitsandbytes and a CUDA GPU: pip install bitsandbytes") from err
    from transformers import BitsAndBytesConfig

    if load_8bit:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=["mm_projector", "vision_tower"])
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype if isinstance(dtype, torch.dtype) else torch.float16,
                              bnb_4bit_use_double_quant=True, bnb_4bit_quant_type="nf4",
                              llm_int8_skip_modules=["mm_projector", "vision_tower"])


def _fill_missing_vision_weights(model, missing: list[str], where: Path) -> None:
    """Tower weights absent from the checkpoint: take them from `mm_vision_tower` or fail clearly."""
    vision_missing = [k for k in missing if k.startswith(_VISION_PREFIX)]
    other = [k for k in missing if not k.startswith(_VISION_PREFIX)]
    if other:
        raise ValueError(f"checkpoint {where} lacks weights {other[:6]}{' ...' if len(other) > 6 else ''}; "
                         "is it a projector-only or LoRA checkpoint? Then pass model_base (the model it was "
                         "trained from)")
    if not vision_missing:
        return
    from llava.model.vision_towers import _weights_folder

    tower = model.get_vision_tower()
    logger.info("checkpoint %s has no vision tower weights; loading them from %s", where, tower.vision_tower_name)
    tower.load_pretrained_weights(_weights_folder(tower.vision_tower_name, None if not Path(
        tower.vision_tower_name).is_dir() else Path(tower.vision_tower_name)))


def load_pretrained_model(model_path, model_base=None, model_name=None, load_8bit=False, load_4bit=False,
                          device_map="auto", torch_dtype="float16", attn_implementation=None, multimodal=True,
                          overwrite_config=None, customized_config=None, use_flash_attention_2=None,
                          device=None, **kwargs):
    """Load a checkpoint; returns (tokenizer, model, image_processor, context_len).

    model_path: checkpoint folder (any name) or hub id, LLaVA-NeXT layout.
    model_base: for LoRA adapters (folder with adapter_config.json) or projector-only checkpoints
        (mm_projector.safetensors/.bin): the model they were trained on.
    model_name: accepted for API compatibility; it does not influence which class is loaded.
    multimodal: False loads the LLM part alone (text-only use), image_processor is then None.
    torch_dtype: "float16" (LLaVA's default), "bfloat16", "float32", a torch.dtype or "auto".
    attn_implementation: None/"auto" picks flash_attention_2 when available, else sdpa.
    overwrite_config / customized_config: config overrides (dict / dict, config or json path).
    """
    from transformers import AutoTokenizer

    if kwargs.pop("trust_remote_code", False):
        raise ValueError("trust_remote_code is not supported: LLaVA classes are part of this package")
    if device is not None and device_map in (None, "auto"):
        device_map = device
    dtype = resolve_dtype(torch_dtype)
    if attn_implementation is None and use_flash_attention_2:
        attn_implementation = "flash_attention_2"
    attn = choose_attn_implementation(attn_implementation)
    folder = resolve_model_folder(model_path)
    check_weight_files(folder)  # a truncated file is named here, not deep inside transformers

    if model_base is not None:
        from llava.model.partial_checkpoints import load_with_base

        model = load_with_base(folder, model_base, dtype=dtype, attn_implementation=attn,
                               device_map=_device_map(device_map), overwrite_config=overwrite_config)
        token_folder = folder if (folder / "tokenizer_config.json").is_file() else resolve_model_folder(model_base)
    else:
        config, model_class = load_llava_config(folder, customized_config, overwrite_config)
        if not multimodal or not getattr(config, "mm_vision_tower", None):
            model = _load_text_only(folder, config, dtype, attn, _device_map(device_map))
        else:
            model, info = model_class.from_pretrained(
                str(folder), config=config, dtype=dtype, attn_implementation=attn, device_map=_device_map(device_map),
                key_mapping=VISION_KEY_MAPPING, output_loading_info=True,
                quantization_config=_quantization(load_8bit, load_4bit, dtype), **kwargs)
            _fill_missing_vision_weights(model, list(info.get("missing_keys", [])), folder)
            if info.get("unexpected_keys"):
                logger.warning("ignored %d unexpected checkpoint keys, e.g. %s", len(info["unexpected_keys"]),
                               sorted(info["unexpected_keys"])[:3])
        token_folder = folder
    tokenizer = AutoTokenizer.from_pretrained(str(token_folder))
    model.eval()

    image_processor = None
    if hasattr(model, "get_vision_tower") and model.get_vision_tower() is not None:
        tower = model.get_vision_tower()
        image_processor = tower.image_processor
        if isinstance(dtype, torch.dtype) and tower.dtype != dtype:
            tower.to(dtype=dtype)
    cfg = model.config
    context_len = (getattr(cfg, "max_sequence_length", None) or getattr(cfg, "max_position_embeddings", None)
                   or getattr(cfg, "tokenizer_model_max_length", None) or 2048)
    return tokenizer, model, image_processor, context_len


def _load_text_only(folder: Path, config, dtype, attn, device_map):
    """The LLM of a LLaVA checkpoint without the vision parts (vision keys are ignored)."""
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen3Config

    base_class = Qwen3Config if isinstance(config, Qwen3Config) else Qwen2Config
    text_dict = {k: v for k, v in config.to_dict().items() if k != "model_type"}
    text_config = base_class.from_dict(text_dict)
    text_config.architectures = None
    return AutoModelForCausalLM.from_pretrained(str(folder), config=text_config, dtype=dtype,
                                                attn_implementation=attn, device_map=device_map)
