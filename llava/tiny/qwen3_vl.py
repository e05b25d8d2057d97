"""A tiny random Qwen3-VL teacher, built offline.

Same classes as `Qwen/Qwen3-VL-8B-Instruct` (`Qwen3VLForConditionalGeneration`, the Qwen2-VL image
processor that Qwen3-VL ships with, a Qwen2 tokenizer with Qwen3's vision tokens), only small, so
the data-generation pipeline runs its real `from_pretrained` code paths in tests and benchmarks.
Weights are random: the text it writes is noise, but it is deterministic (greedy, fixed seed) and
depends on the prompt and the image, which is what the tests need.
"""
from __future__ import annotations

import json
from pathlib import Path

from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

# Qwen3-VL's image statistics and patching (patch 16, 2x2 merge, 2 frames per temporal patch).
_IMAGE_MEAN = [0.5, 0.5, 0.5]
_IMAGE_STD = [0.5, 0.5, 0.5]
PATCH_SIZE = 16
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2


def _tiny_config(tokenizer, hidden_size: int, num_layers: int, init_std: float):
    from transformers import Qwen3VLConfig

    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in {
        "image": "<|image_pad|>", "video": "<|video_pad|>", "vision_start": "<|vision_start|>",
        "vision_end": "<|vision_end|>", "pad": "<|endoftext|>", "eos": "<|im_end|>",
    }.items()}
    head_dim = 16
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=hidden_size // head_dim,
            num_key_value_heads=max(1, hidden_size // head_dim // 2),
            head_dim=head_dim,
            max_position_embeddings=8192,
            # mrope splits head_dim/2 rotary frequencies over (time, height, width), like [24, 20, 20] for 128.
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2],
                             "mrope_interleaved": True},
            initializer_range=init_std,
            pad_token_id=ids["pad"],
            eos_token_id=ids["eos"],
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            patch_size=PATCH_SIZE,
            spatial_merge_size=MERGE_SIZE,
            temporal_patch_size=TEMPORAL_PATCH_SIZE,
            out_hidden_size=hidden_size,
            num_position_embeddings=64,
            deepstack_visual_indexes=[1],
            initializer_range=init_std,
        ),
        image_token_id=ids["image"],
        video_token_id=ids["video"],
        vision_start_token_id=ids["vision_start"],
        vision_end_token_id=ids["vision_end"],
        tie_word_embeddings=True,
    )


def _save_processor_files(save_dir: Path, max_image_pixels: int) -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    size = {"shortest_edge": (PATCH_SIZE * MERGE_SIZE) ** 2, "longest_edge": max_image_pixels}
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=PATCH_SIZE, merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE,
        size=size, image_mean=_IMAGE_MEAN, image_std=_IMAGE_STD,
    )
    image_processor.save_pretrained(save_dir)
    # Qwen3VLProcessor also wants a video processor; its class needs torchvision, which CPU installs
    # lack, so it cannot be instantiated (or saved) here. Write its config by hand so that machines
    # with torchvision load the full processor through AutoProcessor, like a real Qwen3-VL folder.
    video_config = {
        "video_processor_type": "Qwen3VLVideoProcessor",
        "patch_size": PATCH_SIZE, "merge_size": MERGE_SIZE, "temporal_patch_size": TEMPORAL_PATCH_SIZE,
        "size": {"shortest_edge": size["shortest_edge"], "longest_edge": 4 * max_image_pixels},
        "image_mean": _IMAGE_MEAN, "image_std": _IMAGE_STD, "do_sample_frames": True, "fps": 2,
        "min_frames": 4, "max_frames": 16,
    }
    (save_dir / "video_preprocessor_config.json").write_text(json.dumps(video_config, indent=2) + "\n")


def build_tiny_qwen3_vl(
    save_dir: str | Path,
    seed: int = 0,
    max_image_pixels: int = 128 * 128,
    hidden_size: int = 64,
    num_layers: int = 2,
    init_std: float = 0.2,
) -> Path:
    """Write a tiny Qwen3-VL checkpoint that `AutoModelForImageTextToText` and the processor load.

    `max_image_pixels` caps the image processor's resize (the real model allows ~16M pixels): a
    512x512 teacher image becomes 128x128, i.e. 64 patches and 16 image tokens, which keeps a batch
    of 16 well under a second on CPU. `init_std` is larger than transformers' default 0.02 so that
    greedy outputs differ between prompts instead of collapsing to one repeated token.
    """
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    save_dir = Path(save_dir)
    tokenizer = build_tiny_qwen3_tokenizer(save_dir)
    config = _tiny_config(tokenizer, hidden_size, num_layers, init_std)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.generation_config.do_sample = False
    model.save_pretrained(save_dir)
    _save_processor_files(save_dir, max_image_pixels)
    return save_dir
