"""Helpers for the export tests (imported by the test modules)."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

# Asymmetric on purpose (wide grids up to 3 tiles, tall ones up to 2): a (w, h) <-> (h, w) mix-up
# in the export changes which grid a tall image gets, so the equivalence tests would catch it.
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
