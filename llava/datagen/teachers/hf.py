"""Transformers teacher: any image-text-to-text model (Qwen3-VL family by default), batched, left-padded.

A text-only causal LM (e.g. Qwen3-8B for the focus step) loads too; it then only offers
`generate_text`.
"""
from __future__ import annotations

import copy
import logging

from llava.datagen.teachers.base import Teacher, TeacherOptions
from llava.datagen.teachers.chat import render_chat
from llava.prompts import strip_thinking

logger = logging.getLogger(__name__)

# Processors whose only torchvision dependency is their video sub-processor: without torchvision
# (CPU installs) they still work for images when built without it. Exact model_type keys.
_PROCESSORS_WITHOUT_VIDEO = {
    "qwen3_vl": "Qwen3VLProcessor",
    "qwen3_vl_moe": "Qwen3VLProcessor",
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "qwen2_vl": "Qwen2VLProcessor",
}


def is_image_text_model(config) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def load_model_config(model: str, trust_remote_code: bool = False):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot load the teacher model config from {model!r} ({exc}); pass --model a local folder with "
            f"config.json or a Hugging Face hub id such as Qwen/Qwen3-VL-8B-Instruct") from exc


def image_only_processor_class(processor_class):
    """`processor_class` with the video sub-processor removed from its signature.

    transformers derives a processor's sub-processors from its `__init__` parameters, so this
    subclass loads and checks only the image processor and tokenizer; every call still runs the
    real processor code (placeholder expansion, `mm_token_type_ids`).
    """

    class ImageOnlyProcessor(processor_class):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = f"ImageOnly{processor_class.__name__}"
    return ImageOnlyProcessor


def load_processor(model: str, config, trust_remote_code: bool = False):
    """`AutoProcessor`, or for the Qwen-VL family without torchvision, the image-only variant."""
    import transformers
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(model, trust_remote_code=trust_remote_code)
    except ImportError as exc:
        name = _PROCESSORS_WITHOUT_VIDEO.get(config.model_type)
        if name is None or "torchvision" not in str(exc).lower():
            raise
        logger.info("torchvision is not installed: loading %s without its video processor (images only)", name)
        return image_only_processor_class(getattr(transformers, name)).from_pretrained(model)


def _torch_dtype(name: str, device: str):
    import torch

    from llava.utils.dtypes import resolve_dtype

    if name == "auto":  # a concrete dtype for teachers: bf16 on accelerators, fp32 on the CPU
        return torch.bfloat16 if device != "cpu" else torch.float32
    return resolve_dtype(name)


class HFTeacher(Teacher):
    """Batched `generate` with left padding; greedy unless a temperature is set."""

    default_batch_size = 16

    def __init__(self, model: str, dtype: str = "auto", device: str | None = None,
                 attn_implementation: str | None = None, thinking: bool = False,
                 temperature: float = 0.0, top_p: float = 1.0, seed: int = 0):
        import torch
        from transformers import AutoModelForImageTextToText

        from llava.model.causal_lm import left_padded, load_causal_lm

        if not model:
            raise ValueError("the hf teacher needs --model (a local folder or a hub id)")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = load_model_config(model)
        self.supports_images = is_image_text_model(config)
        torch_dtype = _torch_dtype(dtype, device)
        device_map = "auto" if device == "auto" else None
        if self.supports_images:
            from llava.model.causal_lm import pretrained_kwargs
            from llava.model.weights import check_weight_files

            check_weight_files(model)  # names a truncated file (transformers' error does not)
            self.model = AutoModelForImageTextToText.from_pretrained(
                model, **pretrained_kwargs(torch_dtype, attn_implementation, device_map)).eval()
            if not device_map:
                self.model.to(device)
            self.processor = load_processor(model, config)
            self.tokenizer = left_padded(self.processor.tokenizer)
        else:
            # A text-only LM (e.g. the focus step's Qwen3-8B): the evaluation's loader. A missing chat
            # template is reported by `render` with the teacher-specific fix.
            self.processor = None
            self.model, self.tokenizer = load_causal_lm(model, torch_dtype, device, attn_implementation,
                                                        device_map=device_map, require_chat_template=False)
        self.thinking = thinking
        self.generation_config = self._generation_config(temperature, top_p)
        if temperature > 0:
            torch.manual_seed(seed)
        logger.info("hf teacher %s loaded on %s (%s)", model, device, torch_dtype)

    @classmethod
    def from_options(cls, options: TeacherOptions) -> "HFTeacher":
        return cls(options.model, options.dtype, options.device, options.attn_implementation,
                   options.thinking, options.temperature, options.top_p, options.seed)

    def _generation_config(self, temperature: float, top_p: float):
        # Start from the checkpoint's settings (eos ids, repetition penalty) but decide sampling
        # here: Qwen3-VL's generation_config.json turns sampling on by default.
        config = self.model.generation_config.__class__.from_dict(self.model.generation_config.to_dict())
        if temperature > 0:
            config.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            config.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        config.pad_token_id = self.tokenizer.pad_token_id
        if config.eos_token_id is None:
            config.eos_token_id = self.tokenizer.eos_token_id
        return config

    def render(self, prompt: str, with_image: bool) -> str:
        owner = self.processor if self.processor is not None else self.tokenizer
        return render_chat(owner, prompt, with_image, self.thinking, content_parts=self.processor is not None)

    def _generate(self, texts: list[str], images: list | None, max_new_tokens: int) -> list[str]:
        import torch

        if self.processor is not None:
            batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
            if "image_grid_thw" in batch and "mm_token_type_ids" not in batch:
                # Qwen3-VL (transformers 5.24) needs the modality mask whenever image_grid_thw is given.
                batch["mm_token_type_ids"] = (batch["input_ids"] == self.model.config.image_token_id).long()
        else:
            batch = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        batch = batch.to(self.model.device)
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.model.dtype)
        generation_config = copy.deepcopy(self.generation_config)
        generation_config.max_new_tokens = max_new_tokens
        with torch.inference_mode():
            output = self.model.generate(**batch, generation_config=generation_config)
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        return [strip_thinking(t) for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def generate_text(self, prompts, max_new_tokens, contexts=None):
        return self._generate([self.render(p, with_image=False) for p in prompts], None, max_new_tokens)

    def generate_with_images(self, prompts, images, max_new_tokens, contexts=None):
        if not self.supports_images:
            raise ValueError("this teacher is a text-only model; the describe step needs an image-text model")
        return self._generate([self.render(p, with_image=True) for p in prompts], list(images), max_new_tokens)

    def close(self) -> None:
        import gc

        import torch

        del self.model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
