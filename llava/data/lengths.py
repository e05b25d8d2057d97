"""Real per-sample token counts (text tokens + image tokens) for length-grouped batching.

Text is tokenised in batches with the training tokenizer (plus the chat template's per-turn
overhead); image tokens come from the image size read from the file header (no decoding) through
the same `num_image_tokens` the model's feature layout follows. Results are cached on disk, keyed
by the data file (path, size, mtime), the selected samples, the tokenizer and the image settings,
so restarts and other ranks do not redo the work.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.data.mixture import DatasetEntry, Mixture, image_list

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageTokenSpec:
    """What `num_image_tokens` needs, taken from the model config and its vision tower."""

    image_aspect_ratio: str
    image_grid_pinpoints: object
    crop_size: int
    patches_per_side: int
    merge_type: str = "spatial_unpad"

    def per_image(self, sizes_wh: list[tuple[int, int]]) -> list[int]:
        """Token count of each image of one sample (multi-image samples use `pad` mode per image)."""
        from llava.image.processing import aspect_ratio_for_sample, num_image_tokens

        mode = aspect_ratio_for_sample(self.image_aspect_ratio, len(sizes_wh))
        return [num_image_tokens(s, mode, self.image_grid_pinpoints, self.crop_size, self.patches_per_side,
                                 merge_type=self.merge_type) for s in sizes_wh]

    def tokens(self, sizes_wh: list[tuple[int, int]]) -> int:
        return sum(self.per_image(sizes_wh))


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header; (0, 0) when unreadable (the dataset reports it later)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except Exception:  # noqa: BLE001 - an unreadable image is skipped and reported by the dataset
        return 0, 0


def _turn_overhead(tokenizer, conv_template: str) -> tuple[int, int]:
    """(fixed tokens per sample, tokens per turn) that the chat template adds around the values."""
    if conv_template == "plain":
        return 0, len(tokenizer("\n", add_special_tokens=False)["input_ids"])
    system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    per_turn = "<|im_start|>assistant\n<|im_end|>\n"
    return (len(tokenizer(system, add_special_tokens=False)["input_ids"]),
            len(tokenizer(per_turn, add_special_tokens=False)["input_ids"]))


def _cache_key(entry: DatasetEntry, tokenizer, conv_template: str, spec: ImageTokenSpec) -> str:
    st = entry.spec.json_path.stat()
    h = hashlib.sha1()
    h.update(json.dumps([str(entry.spec.json_path.resolve()), st.st_size, st.st_mtime_ns,
                         str(entry.spec.image_folder), getattr(tokenizer, "name_or_path", ""), len(tokenizer),
                         conv_template, asdict(spec)], default=str).encode())
    h.update(np.ascontiguousarray(entry.indices).tobytes())
    return h.hexdigest()[:20]


def dataset_lengths(entry: DatasetEntry, tokenizer, conv_template: str, spec: ImageTokenSpec,
                    num_threads: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(token counts, has_image) for the used samples of one dataset."""
    fixed, per_turn = _turn_overhead(tokenizer, conv_template)
    texts, turns, images = [], [], []
    for pos in entry.indices:
        rec = entry.records[int(pos)]
        conv = rec["conversations"]
        texts.append("\n".join(t["value"].replace(DEFAULT_IMAGE_TOKEN, "") for t in conv))
        turns.append(len(conv))
        images.append(image_list(rec))
    text_tokens = np.zeros(len(texts), dtype=np.int64)
    step = 2048
    for start in range(0, len(texts), step):
        ids = tokenizer(texts[start:start + step], add_special_tokens=False)["input_ids"]
        text_tokens[start:start + step] = [len(x) for x in ids]
    text_tokens += fixed + per_turn * np.asarray(turns, dtype=np.int64)
    folder = entry.spec.image_folder
    paths = [folder / p for imgs in images for p in imgs] if folder is not None else []
    with ThreadPoolExecutor(max_workers=num_threads) as pool:  # header reads are I/O bound
        sizes = list(_progress(pool.map(_header_size, paths), len(paths), f"image sizes {entry.spec.name}"))
    image_tokens = np.zeros(len(texts), dtype=np.int64)
    k = 0
    for i, imgs in enumerate(images):
        if imgs:
            wh = [s if s[0] > 0 else (spec.crop_size, spec.crop_size) for s in sizes[k:k + len(imgs)]]
            image_tokens[i] = spec.tokens(wh)
            k += len(imgs)
    has_image = np.asarray([bool(x) for x in images], dtype=bool)
    return text_tokens + image_tokens, has_image


def mixture_lengths(mixture: Mixture, tokenizer, conv_template: str, spec: ImageTokenSpec,
                    cache_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token counts and modality flags for every sample of the mixture, in mixture order."""
    cache = Path(cache_dir or Path.home() / ".cache" / "llava_train" / "lengths")
    all_len, all_img = [], []
    for entry in mixture.entries:
        path = cache / f"{entry.spec.name}-{_cache_key(entry, tokenizer, conv_template, spec)}.npz"
        if path.is_file():
            with np.load(path) as z:
                lengths, has_image = z["lengths"], z["has_image"]
        else:
            lengths, has_image = dataset_lengths(entry, tokenizer, conv_template, spec)
            try:
                cache.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
                np.savez(tmp, lengths=lengths, has_image=has_image)
                os.replace(tmp, path)
            except OSError as e:  # a read-only cache is not worth failing the run for
                logger.warning("could not cache sample lengths in %s: %s", cache, e)
        all_len.append(lengths)
        all_img.append(has_image)
    return np.concatenate(all_len), np.concatenate(all_img)


def _progress(it, total: int, desc: str):
    if total < 5000:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc=desc, unit="img", mininterval=5)
