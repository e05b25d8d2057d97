"""`load_pretrained_model`: LLaVA-NeXT's loading API, the one lmms-eval's `llava_onevision` wrapper calls.

    tokenizer, model, image_processor, context_len = load_pretrained_model(path, None, name,
        device_map="auto", attn_implementation="sdpa", overwrite_config={...})

Full checkpoints, the LLM part alone (`multimodal=False`), and checkpoints that need their base
model (LoRA adapters, projector-only saves: `model_base=`). The model class comes from the
checkpoint's `architectures` / `model_type` (never from words in the path); the pieces live in
`llava.model.loading` and `llava.model.partial_checkpoints`. `trust_remote_code` is never used.
"""
from __future__ import annotations

import logging

import torch

from llava.model.attention import choose_attn_implementation
from llava.model.loading import load_full_checkpoint, load_llava_config, load_text_only, resolve_model_folder
from llava.model.partial_checkpoints import load_with_base
from llava.model.weights import check_weight_files
from llava.utils.dtypes import resolve_dtype

logger = logging.getLogger(__name__)


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
        model = load_with_base(folder, model_base, dtype=dtype, attn_implementation=attn,
                               device_map=_device_map(device_map), overwrite_config=overwrite_config)
        token_folder = folder if (folder / "tokenizer_config.json").is_file() else resolve_model_folder(model_base)
    else:
        config, model_class = load_llava_config(folder, customized_config, overwrite_config)
        if not multimodal or not getattr(config, "mm_vision_tower", None):
            model = load_text_only(folder, config, dtype=dtype, attn_implementation=attn,
                                   device_map=_device_map(device_map))
        else:
            model = load_full_checkpoint(folder, config, model_class, dtype=dtype, attn_implementation=attn,
                                         device_map=_device_map(device_map),
                                         quantization_config=_quantization(load_8bit, load_4bit, dtype), **kwargs)
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
