"""Tiny random models for tests and demos, built offline from configs.

Sizes are picked so a forward + backward of the full perception model takes well under a second on
CPU while still exercising anyres tiling, unpadding and the >1.1 bilinear downsample:
SigLIP 64 px / patch 16 (4x4 = 16 patches per crop), pinpoints (i*64, j*64) for i, j in 1..3,
`anyres_max_4`, Qwen3 hidden 64 with 2 layers, vocabulary = the tiny tokenizer's length.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

TINY_IMAGE_SIZE = 64
TINY_PATCH_SIZE = 16
TINY_ASPECT_RATIO = "anyres_max_4"


def tiny_grid_pinpoints(image_size: int = TINY_IMAGE_SIZE, max_side: int = 3) -> list[list[int]]:
    """Every (i*S, j*S) for i, j in 1..max_side, as [width, height] lists (LLaVA-NeXT order)."""
    return [[i * image_size, j * image_size] for i in range(1, max_side + 1) for j in range(1, max_side + 1)]


def tiny_siglip_config(num_hidden_layers: int = 3, image_size: int = TINY_IMAGE_SIZE,
                       patch_size: int = TINY_PATCH_SIZE, hidden_size: int = 32):
    """A SigLIP vision config (original form: the model drops its last layer, as for so400m)."""
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                              num_hidden_layers=num_hidden_layers, num_attention_heads=2, num_channels=3,
                              image_size=image_size, patch_size=patch_size, layer_norm_eps=1e-6,
                              hidden_act="gelu_pytorch_tanh")


def tiny_clip_vision_config(num_hidden_layers: int = 3, image_size: int = TINY_IMAGE_SIZE,
                            patch_size: int = TINY_PATCH_SIZE, hidden_size: int = 32):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                            num_hidden_layers=num_hidden_layers, num_attention_heads=2, num_channels=3,
                            image_size=image_size, patch_size=patch_size, projection_dim=hidden_size)


def _tiny_text_kwargs(vocab_size: int, hidden_size: int, num_hidden_layers: int, tie: bool) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                num_hidden_layers=num_hidden_layers, num_attention_heads=4, num_key_value_heads=2,
                max_position_embeddings=4096, tie_word_embeddings=tie, rms_norm_eps=1e-6,
                bos_token_id=None, eos_token_id=None, pad_token_id=None)


def _special_ids(vocab_size: int | None):
    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

    tok = build_tiny_qwen3_tokenizer()
    return len(tok) if vocab_size is None else vocab_size, tok


def tiny_qwen3_config(vocab_size: int | None = None, hidden_size: int = 64, num_hidden_layers: int = 2,
                      tie_word_embeddings: bool = True):
    """A Qwen3 config; `vocab_size=None` uses the tiny tokenizer's length."""
    from transformers import Qwen3Config

    vocab_size, tok = _special_ids(vocab_size)
    cfg = Qwen3Config(head_dim=hidden_size // 4, **_tiny_text_kwargs(vocab_size, hidden_size, num_hidden_layers,
                                                                    tie_word_embeddings))
    cfg.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    cfg.pad_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
    cfg.bos_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
    return cfg


def tiny_qwen2_config(vocab_size: int | None = None, hidden_size: int = 64, num_hidden_layers: int = 2,
                      tie_word_embeddings: bool = True):
    from transformers import Qwen2Config

    vocab_size, tok = _special_ids(vocab_size)
    cfg = Qwen2Config(**_tiny_text_kwargs(vocab_size, hidden_size, num_hidden_layers, tie_word_embeddings))
    cfg.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    cfg.pad_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
    return cfg


def _save_tiny_tower(directory: str | Path, model_class, config, build_image_processor, seed: int) -> Path:
    """Random tower weights (safetensors) + the tower's preprocessor config in `directory`."""
    directory = Path(directory)
    torch.manual_seed(seed)
    model_class(config).save_pretrained(directory)
    build_image_processor(config.image_size).save_pretrained(directory)
    return directory


def save_tiny_siglip(directory: str | Path, seed: int = 0, **config_kwargs) -> Path:
    """Save a random SigLIP vision tower (safetensors + preprocessor config) to `directory`."""
    from transformers import SiglipVisionModel

    from llava.model.vision_towers.siglip import build_image_processor

    return _save_tiny_tower(directory, SiglipVisionModel, tiny_siglip_config(**config_kwargs),
                            build_image_processor, seed)


def save_tiny_clip(directory: str | Path, seed: int = 0, **config_kwargs) -> Path:
    from transformers import CLIPVisionModel

    from llava.model.vision_towers.clip import build_image_processor

    return _save_tiny_tower(directory, CLIPVisionModel, tiny_clip_vision_config(**config_kwargs),
                            build_image_processor, seed)


def save_tiny_qwen3_llm(directory: str | Path, seed: int = 0, llm: str = "qwen3", **config_kwargs) -> Path:
    """Save a random Qwen3 (or Qwen2 with llm="qwen2") causal LM plus the tiny tokenizer."""
    from transformers import Qwen2ForCausalLM, Qwen3ForCausalLM

    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

    directory = Path(directory)
    torch.manual_seed(seed)
    if llm == "qwen3":
        model = Qwen3ForCausalLM(tiny_qwen3_config(**config_kwargs))
    elif llm == "qwen2":
        model = Qwen2ForCausalLM(tiny_qwen2_config(**config_kwargs))
    else:
        raise ValueError(f"llm must be 'qwen3' or 'qwen2', got {llm!r}")
    model.save_pretrained(directory)
    build_tiny_qwen3_tokenizer(directory)
    return directory


def build_tiny_llava_model(vision_tower: str | Path, llm: str = "qwen3", *,
                           image_aspect_ratio: str = TINY_ASPECT_RATIO, image_grid_pinpoints=None,
                           projector_type: str = "mlp2x_gelu", mm_patch_merge_type: str = "spatial_unpad",
                           tokenizer_model_max_length: int = 2048, seed: int = 0, **llm_kwargs):
    """A random in-memory LLaVA model on a saved tiny tower folder (weights loaded from it)."""
    from llava.model.language_models.configs import LlavaQwen3Config, LlavaQwenConfig

    torch.manual_seed(seed)
    base = tiny_qwen3_config(**llm_kwargs) if llm == "qwen3" else tiny_qwen2_config(**llm_kwargs)
    config_class = LlavaQwen3Config if llm == "qwen3" else LlavaQwenConfig
    base_dict = {k: v for k, v in base.to_dict().items() if k != "model_type"}
    config = config_class.from_dict({**base_dict, **tiny_mm_config(
        vision_tower, image_aspect_ratio=image_aspect_ratio, image_grid_pinpoints=image_grid_pinpoints,
        projector_type=projector_type, mm_patch_merge_type=mm_patch_merge_type,
        tokenizer_model_max_length=tokenizer_model_max_length)})
    if llm == "qwen3":
        from llava.model.language_models.qwen3 import LlavaQwen3ForCausalLM as cls
    else:
        from llava.model.language_models.qwen2 import LlavaQwenForCausalLM as cls
    model = cls(config)
    model.get_vision_tower().load_pretrained_weights(vision_tower)
    return model.eval()


def tiny_mm_config(vision_tower, *, image_aspect_ratio=TINY_ASPECT_RATIO, image_grid_pinpoints=None,
                   projector_type="mlp2x_gelu", mm_patch_merge_type="spatial_unpad",
                   tokenizer_model_max_length=2048) -> dict:
    """The LLaVA-NeXT `mm_*` config keys for a tiny model."""
    return {
        "mm_vision_tower": str(vision_tower),
        "mm_projector_type": projector_type,
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "mm_patch_merge_type": mm_patch_merge_type,
        "image_aspect_ratio": image_aspect_ratio,
        "image_grid_pinpoints": image_grid_pinpoints or tiny_grid_pinpoints(),
        "mm_newline_position": "grid",
        "mm_spatial_pool_mode": "bilinear",
        "mm_tunable_parts": "mm_vision_tower,mm_mlp_adapter,mm_language_model",
        "mm_vision_tower_lr": 2e-6,
        "mm_projector_lr": None,
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
        "tokenizer_padding_side": "right",
        "tokenizer_model_max_length": tokenizer_model_max_length,
    }


def build_tiny_llava_checkpoint(directory: str | Path, llm: str = "qwen3", *,
                                image_aspect_ratio: str = TINY_ASPECT_RATIO, image_grid_pinpoints=None,
                                projector_type: str = "mlp2x_gelu", vision: str = "siglip",
                                keep_tower_folder: bool = True, seed: int = 0, **kwargs) -> Path:
    """Write a complete LLaVA-NeXT-layout checkpoint (config.json, model.safetensors, tokenizer).

    The tower folder is saved next to it (`<directory>_tower`) and `mm_vision_tower` points there,
    as in a real training run; with `keep_tower_folder=False` it is deleted afterwards, so loading
    must rebuild the tower from the checkpoint alone.
    """
    import shutil

    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

    directory = Path(directory)
    tower_dir = directory.parent / f"{directory.name}_tower"
    (save_tiny_siglip if vision == "siglip" else save_tiny_clip)(tower_dir, seed=seed)
    model = build_tiny_llava_model(tower_dir, llm, image_aspect_ratio=image_aspect_ratio,
                                   image_grid_pinpoints=image_grid_pinpoints, projector_type=projector_type,
                                   seed=seed, **kwargs)
    model.save_pretrained(directory)
    build_tiny_qwen3_tokenizer(directory)
    if not keep_tower_folder:
        shutil.rmtree(tower_dir)
    return directory


def read_config(directory: str | Path) -> dict:
    return json.loads((Path(directory) / "config.json").read_text())
