"""Helpers for the export tests (imported by the test modules)."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

# Asymmetric on purpose (wide grids up to 3 tiles, tall ones up to 2): a (w, h) <-> (h, w) mix-up
# in the export changes which grid a tall image gets, so the equivalence tests would catch it.
PROMPT = "Describe the image."
ASYMMETRIC_PINPOINTS = [[64, 64], [128, 64], [192, 64], [64, 128], [128, 128], [192, 128]]


def load_native_processor(folder):
    """`AutoProcessor.from_pretrained(folder)`; on installs without torchvision, the same processor class
    assembled from the folder's own files.

    transformers' LlavaOnevisionProcessor always builds its video processor, which needs torchvision
    (not installable next to the CPU torch here). Without it, `AutoProcessor` raises ImportError for
    every LlavaOnevision checkpoint, llava-hf's included. The fallback loads the image processor,
    tokenizer, chat template and processor_config.json exactly as `AutoProcessor` does and leaves
    only the video slot as an inert placeholder; images + text go through transformers' own code.
    """
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(str(folder))
    except ImportError as e:
        if "torchvision" not in str(e).lower():
            raise
    import transformers.processing_utils as processing_utils
    from transformers import AutoImageProcessor, AutoTokenizer, LlavaOnevisionProcessor
    from transformers.video_processing_utils import VideoProcessorMixin

    # The class check looks the base class up on the lazy transformers module, which only exposes
    # it when torchvision is installed.
    setattr(processing_utils.transformers_module, "VideoProcessorMixin", VideoProcessorMixin)
    kwargs = json.loads((folder / "processor_config.json").read_text())
    kwargs.pop("processor_class", None)
    chat_template = (folder / "chat_template.jinja").read_text()
    return LlavaOnevisionProcessor(image_processor=AutoImageProcessor.from_pretrained(str(folder)),
                                   tokenizer=AutoTokenizer.from_pretrained(str(folder)),
                                   video_processor=VideoProcessorMixin(), chat_template=chat_template, **kwargs)


def test_image(width: int, height: int, seed: int) -> Image.Image:
    """A structured (not pure-noise) RGB image: gradients plus a few blocks."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    (x + y) * 255 // max(width + height - 2, 1)], -1).astype(np.uint8)
    for _ in range(4):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        img[y0:y0 + height // 4, x0:x0 + width // 4] = rng.integers(0, 255, 3)
    return Image.fromarray(img)


test_image.__test__ = False  # a helper, not a test


def training_prompt(n_images: int) -> str:
    from llava.conversation import conv_templates

    conv = conv_templates["qwen_1_5"].copy()
    conv.append_message(conv.roles[0], "<image>\n" * n_images + PROMPT)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def messages(n_images: int) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": PROMPT}]}]


def project_inputs(project, images, mode):
    from types import SimpleNamespace

    from llava.constants import IMAGE_TOKEN_INDEX
    from llava.mm_utils import process_images, tokenizer_image_token

    tokenizer, model, image_processor = project
    cfg = SimpleNamespace(image_aspect_ratio=mode, image_grid_pinpoints=model.config.image_grid_pinpoints)
    pixels = process_images(images, image_processor, cfg)
    input_ids = tokenizer_image_token(training_prompt(len(images)), tokenizer, IMAGE_TOKEN_INDEX,
                                      return_tensors="pt")[None]
    return input_ids, list(pixels), [img.size for img in images]


def native_inputs(native, images):
    _, _, processor = native
    text = processor.apply_chat_template(messages(len(images)), add_generation_prompt=True)
    return processor(images=[images], text=[text], return_tensors="pt")


def load_project(folder):
    """(tokenizer, model, image_processor) of this project's loader, fp32 eager on CPU."""
    from llava.model.builder import load_pretrained_model

    tokenizer, model, image_processor, _ = load_pretrained_model(str(folder), device_map="cpu",
                                                                 torch_dtype="float32", attn_implementation="eager")
    return tokenizer, model.eval(), image_processor


def load_native(folder):
    """(model, loading info, processor) through transformers' Auto classes, fp32 eager on CPU."""
    import torch
    from transformers import AutoModelForImageTextToText

    model, info = AutoModelForImageTextToText.from_pretrained(str(folder), dtype=torch.float32,
                                                              attn_implementation="eager", output_loading_info=True)
    return model.eval(), info, load_native_processor(folder)


def logits_pair(project, native, images, mode):
    """Logits of this project's model and of transformers' model on the same images and prompt."""
    import torch

    input_ids, pixels, sizes = project_inputs(project, images, mode)
    inputs = native_inputs(native, images)
    with torch.no_grad():
        ours = project[1](input_ids=input_ids, images=pixels, image_sizes=sizes).logits
        theirs = native[0](**inputs).logits
    return ours, theirs, inputs


def greedy_pair(project, native, images, mode, max_new_tokens=12):
    """Greedy continuations (new tokens only) of both models."""
    import torch

    input_ids, pixels, sizes = project_inputs(project, images, mode)
    inputs = native_inputs(native, images)
    tokenizer = project[0]
    settings = dict(max_new_tokens=max_new_tokens, do_sample=False,
                    eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        ours = project[1].generate(input_ids, images=pixels, image_sizes=sizes, **settings)[0].tolist()
        theirs = native[0].generate(**inputs, **settings)[0, inputs["input_ids"].shape[1]:].tolist()
    return ours, theirs
