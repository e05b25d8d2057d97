"""Stage 1: the perception model describes each image (or answers the question directly).

Two checkpoint layouts are supported, told apart by ``config.json``'s ``model_type``:
``llava_onevision`` is the transformers-native export (AutoModelForImageTextToText +
AutoProcessor); any other config carrying ``mm_vision_tower`` is the LLaVA-NeXT layout loaded by
:func:`llava.model.builder.load_pretrained_model`. Both build the same ``qwen_1_5`` ChatML prompt
(docs/evaluation.md, "Stages and prompts"), run left-padded batches and decode greedily.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.eval.artifacts import JsonlArtifact
from llava.eval.text_generation import resolve_device
from llava.model.weights import check_weight_files
from llava.utils.dtypes import resolve_dtype

SYSTEM_PROMPT = "You are a helpful assistant."
# lmms-eval's MMStar post-prompt, used by the end-to-end baseline.
DIRECT_ANSWER_SUFFIX = "\nAnswer with the option's letter from the given choices directly."


def qwen_1_5_prompt(user_text: str, image_token: str = DEFAULT_IMAGE_TOKEN) -> str:
    """The ``qwen_1_5`` conversation with one image, ready for the assistant's reply."""
    return (f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{image_token}\n"
            f"{user_text}<|im_end|>\n<|im_start|>assistant\n")


def _config_path(path: str | Path) -> Path:
    folder = Path(path).expanduser()
    if folder.is_dir() or str(path).startswith(("/", ".", "~")):
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"perception checkpoint {path} has no config.json (wrong folder? "
                                    "point at the one holding config.json and the weights)")
        return config_path
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(str(path), "config.json"))
    except Exception as e:  # offline, unknown id, gated repo: all end here
        raise FileNotFoundError(f"perception checkpoint {path!r} is neither a local folder nor a "
                                f"reachable hub id ({type(e).__name__}: {e})") from e


def checkpoint_format(path: str | Path) -> str:
    """``"hf-native"`` or ``"llava-next"`` from the checkpoint's config.json."""
    config_path = _config_path(path)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("model_type") == "llava_onevision":
        return "hf-native"
    if "mm_vision_tower" in config or "LlavaQwen3ForCausalLM" in config.get("architectures", []):
        return "llava-next"
    raise ValueError(f"{config_path}: model_type {config.get('model_type')!r} is neither a "
                     "transformers-native llava_onevision export nor a LLaVA-NeXT checkpoint "
                     "(no mm_vision_tower)")


@dataclass
class PerceptionSettings:
    max_new_tokens: int = 1024
    batch_size: int = 8
    dtype: str = "auto"
    device: str | None = None
    attn_implementation: str | None = None


def load_native_processor(path: str):
    """AutoProcessor; without torchvision (CPU installs), LlavaOnevisionProcessor minus its video part.

    transformers reads a processor's sub-processors from its ``__init__`` signature, so a subclass
    without ``video_processor`` loads only the image processor and tokenizer and runs the real
    image code (placeholder expansion included).
    """
    from transformers import AutoProcessor, LlavaOnevisionProcessor

    try:
        return AutoProcessor.from_pretrained(path)
    except ImportError as e:
        if "torchvision" not in str(e).lower():
            raise

    class ImageOnlyLlavaOnevisionProcessor(LlavaOnevisionProcessor):
        # Named parameters: from_pretrained passes processor_config.json keys by signature.
        def __init__(self, image_processor=None, tokenizer=None, num_image_tokens=None,
                     vision_feature_select_strategy=None, chat_template=None, image_token="<image>",
                     video_token="<video>", vision_aspect_ratio="anyres_max_9", **kwargs):
            super().__init__(image_processor, tokenizer, None, num_image_tokens=num_image_tokens,
                             vision_feature_select_strategy=vision_feature_select_strategy,
                             chat_template=chat_template, image_token=image_token, video_token=video_token,
                             vision_aspect_ratio=vision_aspect_ratio, **kwargs)

    return ImageOnlyLlavaOnevisionProcessor.from_pretrained(path)


class NativePerception:
    """transformers' LlavaOnevisionForConditionalGeneration export."""

    def __init__(self, path: str, settings: PerceptionSettings):
        from transformers import AutoModelForImageTextToText

        self.processor = load_native_processor(path)
        self.processor.tokenizer.padding_side = "left"
        kwargs = {"dtype": resolve_dtype(settings.dtype)}
        if settings.attn_implementation:
            kwargs["attn_implementation"] = settings.attn_implementation
        check_weight_files(path)  # names a truncated file (transformers' error does not)
        self.model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        self.model.to(resolve_device(settings.device)).eval()
        self.image_token = getattr(self.processor, "image_token", DEFAULT_IMAGE_TOKEN)

    def generate(self, images, texts: list[str], max_new_tokens: int) -> list[str]:
        tok = self.processor.tokenizer
        prompts = [qwen_1_5_prompt(t, self.image_token) for t in texts]
        inputs = self.processor(images=images, text=prompts, padding=True, return_tensors="pt")
        inputs = inputs.to(self.model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens,
                                      temperature=None, top_p=None, top_k=None,
                                      pad_token_id=tok.pad_token_id)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]


class LlavaNextPerception:
    """The LLaVA-NeXT layout (released ``markendo/llava-extract-qwen3-*`` checkpoints)."""

    def __init__(self, path: str, settings: PerceptionSettings):
        from llava.model.builder import load_pretrained_model

        kwargs = {"device_map": resolve_device(settings.device), "torch_dtype": resolve_dtype(settings.dtype)}
        if settings.attn_implementation:
            kwargs["attn_implementation"] = settings.attn_implementation
        self.tokenizer, self.model, self.image_processor, _ = load_pretrained_model(
            path, None, Path(path).name, **kwargs)
        self.model.eval()

    def generate(self, images, texts: list[str], max_new_tokens: int) -> list[str]:
        from llava.constants import IMAGE_TOKEN_INDEX
        from llava.conversation import conv_templates
        from llava.mm_utils import process_images, tokenizer_image_token

        rows = []
        for text in texts:
            conv = conv_templates["qwen_1_5"].copy()
            conv.append_message(conv.roles[0], f"{DEFAULT_IMAGE_TOKEN}\n{text}")
            conv.append_message(conv.roles[1], None)
            rows.append(list(tokenizer_image_token(conv.get_prompt(), self.tokenizer, IMAGE_TOKEN_INDEX)))
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        device = self.model.device
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        attention_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        pixel = process_images(images, self.image_processor, self.model.config)
        dtype = self.model.dtype
        pixel = [p.to(device, dtype) for p in pixel] if isinstance(pixel, list) else pixel.to(device, dtype)
        with torch.inference_mode():
            out = self.model.generate(input_ids, attention_mask=attention_mask, images=pixel,
                                      image_sizes=[img.size for img in images],
                                      modalities=["image"] * len(images), do_sample=False,
                                      temperature=None, top_p=None, top_k=None,
                                      max_new_tokens=max_new_tokens, pad_token_id=pad)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def load_perception(path: str, settings: PerceptionSettings):
    resolve_dtype(settings.dtype)  # an unknown name fails before any model is loaded
    fmt = checkpoint_format(path)
    return NativePerception(path, settings) if fmt == "hf-native" else LlavaNextPerception(path, settings)


def run_perception(questions, user_texts: dict[str, str], artifact: JsonlArtifact, path: str,
                   settings: PerceptionSettings, output_key: str = "description",
                   runner=None, desc: str = "perceive") -> list[dict]:
    """Run the perception model on every question not yet in ``artifact``.

    ``user_texts`` maps index -> the user instruction (extraction, caption or direct question).
    Images that fail to load become error records (counted and reported), not a crash.
    """
    todo = [q for q in questions if q.index not in artifact]
    if todo:
        runner = runner or load_perception(path, settings)
        with tqdm(total=len(questions), initial=len(questions) - len(todo), desc=desc, unit="q",
                  dynamic_ncols=True) as bar:
            for start in range(0, len(todo), settings.batch_size):
                chunk = todo[start:start + settings.batch_size]
                ready, images, records = [], [], []
                for q in chunk:
                    try:
                        images.append(q.load_image())
                        ready.append(q)
                    except ValueError as e:
                        records.append(dict(q.record(), prompt=user_texts[q.index], **{output_key: ""},
                                            error=str(e)))
                if ready:
                    texts = runner.generate(images, [user_texts[q.index] for q in ready],
                                            settings.max_new_tokens)
                    records += [dict(q.record(), prompt=user_texts[q.index], **{output_key: t})
                                for q, t in zip(ready, texts)]
                artifact.append(records)
                bar.update(len(chunk))
    failed = [r for r in (artifact.get(q.index) for q in questions) if r.get("error")]
    if failed:
        print(f"[{desc}] {len(failed)} question(s) had no usable image and get an empty output "
              f"(scored wrong); first: {failed[0]['index']}: {failed[0]['error']}")
    return [artifact.get(q.index) for q in questions]
