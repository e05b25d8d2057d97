"""The transformers-native processor files: tokenizer with `<image>`/`<video>`, image processor, chat template.

Written as plain files (tokenizer via `save_pretrained`, the rest as JSON) rather than through
`LlavaOnevisionProcessor(...)`, whose constructor needs a torchvision video processor that CPU-only
installs cannot build; the files are the same ones `LlavaOnevisionProcessor.save_pretrained` writes.
"""
from __future__ import annotations

import json
from pathlib import Path

IMAGE_TOKEN = "<image>"
VIDEO_TOKEN = "<video>"

# ChatML as the `qwen_1_5` conversation template renders it (docs/method.md): default system
# prompt, then per turn `<|im_start|>{role}\n{content}<|im_end|>\n`. Images (and videos) of a turn
# come first, one placeholder plus "\n" each, as LLaVA puts a single `<image>` in front of the text.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}"
    "{%- for part in message['content'] %}"
    "{%- if part['type'] == 'image' %}{{- '<image>\\n' }}"
    "{%- elif part['type'] == 'video' %}{{- '<video>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{%- if not loop.first %}{{- '\\n' }}{%- endif %}{{- part['text'] }}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def add_multimodal_tokens(tokenizer) -> tuple[int, int]:
    """Add `<image>` and `<video>` as special tokens (kept when already present); return their ids."""
    from tokenizers import AddedToken

    missing = [t for t in (IMAGE_TOKEN, VIDEO_TOKEN) if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in missing],
                             special_tokens=True)
    ids = tuple(tokenizer.convert_tokens_to_ids([IMAGE_TOKEN, VIDEO_TOKEN]))
    return ids  # type: ignore[return-value]


def pinpoints_hw(pinpoints_wh: list[tuple[int, int]]) -> list[list[int]]:
    """LLaVA-NeXT pinpoints are (width, height); transformers' LlavaOnevision wants (height, width)."""
    return [[int(h), int(w)] for w, h in pinpoints_wh]


def image_processor_dict(*, crop_size: int, image_mean, image_std, resample: int, rescale_factor: float,
                         grid_pinpoints_hw: list[list[int]]) -> dict:
    return {
        "image_processor_type": "LlavaOnevisionImageProcessor",
        "processor_class": "LlavaOnevisionProcessor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"height": crop_size, "width": crop_size},
        "resample": int(resample),
        "do_rescale": True,
        "rescale_factor": float(rescale_factor),
        "do_normalize": True,
        "image_mean": [float(x) for x in image_mean],
        "image_std": [float(x) for x in image_std],
        "do_pad": True,
        "image_grid_pinpoints": grid_pinpoints_hw,
    }


def video_processor_dict(image_dict: dict) -> dict:
    keys = ("do_convert_rgb", "do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize",
            "image_mean", "image_std")
    return {"video_processor_type": "LlavaOnevisionVideoProcessor", "processor_class": "LlavaOnevisionProcessor",
            "default_to_square": False, "do_sample_frames": False, **{k: image_dict[k] for k in keys}}


def write_processor(out_dir: str | Path, tokenizer, *, crop_size: int, patch_size: int, image_mean, image_std,
                    resample: int, rescale_factor: float, grid_pinpoints_wh, vision_aspect_ratio: str) -> None:
    """Write tokenizer, image/video processor and processor config so `AutoProcessor` loads the folder."""
    out_dir = Path(out_dir)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    image_dict = image_processor_dict(crop_size=crop_size, image_mean=image_mean, image_std=image_std,
                                      resample=resample, rescale_factor=rescale_factor,
                                      grid_pinpoints_hw=pinpoints_hw(grid_pinpoints_wh))
    _dump(out_dir / "preprocessor_config.json", image_dict)
    _dump(out_dir / "video_preprocessor_config.json", video_processor_dict(image_dict))
    _dump(out_dir / "processor_config.json", {
        "processor_class": "LlavaOnevisionProcessor",
        "image_token": IMAGE_TOKEN,
        "video_token": VIDEO_TOKEN,
        "num_image_tokens": (crop_size // patch_size) ** 2,
        "vision_feature_select_strategy": "full",
        "vision_aspect_ratio": vision_aspect_ratio,
    })
    (out_dir / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")


def _dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
