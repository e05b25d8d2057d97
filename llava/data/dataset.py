"""The supervised training dataset over a `Mixture`.

Expensive checks happen here, lazily: decoding the image(s) and tokenising the conversation. A
sample that fails (corrupt image, over-long, all labels masked, ...) is replaced by the next usable
sample (deterministically, so resume and ranks stay reproducible), and the failure travels with
the returned item under `"skipped"`; the trainer collects those (this also works inside dataloader
worker processes) and reports them at the end of training.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

from torch.utils.data import Dataset

from llava.data.bad_samples import BadSample
from llava.data.lengths import ImageTokenSpec
from llava.data.mixture import Mixture, image_list, sample_id
from llava.data.preprocess import SampleSkipped, preprocess_conversation

logger = logging.getLogger(__name__)

MAX_REPLACEMENTS = 50


class _Skip(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def load_image(path):
    """Decode fully (so truncated files fail here, not in the collator) and convert to RGB."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError:
        raise _Skip("missing_image", f"{path} does not exist") from None
    except Exception as e:  # noqa: BLE001 - any decoder error means the same thing for training
        raise _Skip("corrupt_image", f"{path}: {type(e).__name__}: {e}") from None


class SupervisedDataset(Dataset):
    """Items: input_ids, labels, images (list of pixel tensors), image_sizes ((w, h) each),
    modalities, num_tokens (text + image tokens), skipped (bad samples met on the way)."""

    def __init__(self, mixture: Mixture, tokenizer, image_processor, image_spec: ImageTokenSpec,
                 conv_template: str = "qwen_1_5", model_max_length: int = 32768, overlong: str = "skip") -> None:
        """`overlong`: "skip" (report) samples longer than model_max_length, or "truncate" their text
        (never inside an image; a sample left without answer tokens is still skipped)."""
        if overlong not in ("skip", "truncate"):
            raise ValueError(f"overlong must be 'skip' or 'truncate', got {overlong!r}")
        self.mixture = mixture
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_spec = image_spec
        self.conv_template = conv_template
        self.model_max_length = model_max_length
        self.overlong = overlong

    def __len__(self) -> int:
        return len(self.mixture)

    def __getitem__(self, i: int) -> dict:
        skipped = []
        n = len(self)
        for k in range(min(MAX_REPLACEMENTS, n)):
            j = (i + k) % n
            record, entry = self.mixture.get(j)
            try:
                item = self._build(record, entry)
            except _Skip as e:
                skipped.append(asdict(BadSample(entry.spec.name, sample_id(record, int(self.mixture.locate(j)[1])),
                                                e.reason, e.detail, "train")))
                continue
            item["skipped"] = skipped
            return item
        raise RuntimeError(f"{MAX_REPLACEMENTS} consecutive samples starting at index {i} are unusable, e.g. "
                           f"{skipped[:3]}; check the data (see the skipped-samples report)")

    def _build(self, record: dict, entry) -> dict:
        from llava.image.processing import aspect_ratio_for_sample, process_image

        rels = image_list(record)
        images, sizes = [], []
        mode = aspect_ratio_for_sample(self.image_spec.image_aspect_ratio, len(rels))
        for rel in rels:
            img = load_image(entry.spec.image_folder / rel)
            if min(img.size) < 1:
                raise _Skip("corrupt_image", f"{rel}: empty image {img.size}")
            try:
                pixels = process_image(img, self.image_processor, mode, self.image_spec.image_grid_pinpoints)
            except Exception as e:  # noqa: BLE001 - e.g. extreme aspect ratios the resize cannot handle
                raise _Skip("corrupt_image", f"{rel}: preprocessing failed: {type(e).__name__}: {e}") from None
            images.append(pixels)
            sizes.append(tuple(img.size))
        image_tokens = self.image_spec.per_image(sizes)
        conv = record["conversations"]
        try:
            sample = preprocess_conversation(
                conv, self.tokenizer, self.conv_template, num_image_tokens=image_tokens if rels else None,
                model_max_length=self.model_max_length if self.overlong == "truncate" else None)
        except SampleSkipped as e:
            raise _Skip(e.reason.value, e.detail) from None
        if sample.num_tokens > self.model_max_length:
            raise _Skip("too_long", f"{sample.num_tokens} tokens (text + image) > model_max_length "
                                    f"{self.model_max_length}; raise --model_max_length or shorten the sample")
        return {"input_ids": sample.input_ids, "labels": sample.labels, "images": images, "image_sizes": sizes,
                "modalities": ["image"] * len(images), "num_tokens": sample.num_tokens}
