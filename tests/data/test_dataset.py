"""Dataset + collator: lazy skip-and-replace with reasons, real token counts, padding and packing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.data.collator import SupervisedCollator
from llava.data.dataset import SupervisedDataset
from llava.data.lengths import ImageTokenSpec, mixture_lengths
from llava.data.mixture import load_mixture
from tiny_data import write_bad_dataset, write_tiny_dataset


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    from llava.tiny.models import TINY_IMAGE_SIZE, TINY_PATCH_SIZE, save_tiny_siglip
    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer
    from transformers import AutoImageProcessor

    root = tmp_path_factory.mktemp("ds")
    save_tiny_siglip(root / "tower")
    tok = build_tiny_qwen3_tokenizer()
    spec = ImageTokenSpec("anyres_max_9", "(1x1),...,(6x6)", TINY_IMAGE_SIZE, TINY_IMAGE_SIZE // TINY_PATCH_SIZE)
    return root, tok, AutoImageProcessor.from_pretrained(root / "tower"), spec


def test_lazy_failures_are_replaced_and_recorded(parts, tmp_path):
    _, tok, processor, spec = parts
    yaml_path, expected = write_bad_dataset(tmp_path, model_max_length=256, num_good=6)
    mixture = load_mixture(yaml_path)
    ds = SupervisedDataset(mixture, tok, processor, spec, "qwen_1_5", model_max_length=256)
    ids = [mixture.get(i)[0]["id"] for i in range(len(ds))]
    seen = {}
    for i in range(len(ds)):
        item = ds[i]
        for rec in item["skipped"]:
            seen[rec["sample_id"]] = rec["reason"]
        assert item["num_tokens"] <= 256 and (item["labels"] != IGNORE_INDEX).any()
    assert seen == {"bad-corrupt-image": "corrupt_image", "bad-over-long": "too_long"}
    # The replacement is the next sample: deterministic, so every rank and a resumed run agree.
    corrupt = ids.index("bad-corrupt-image")
    assert torch.equal(ds[corrupt]["input_ids"], ds[corrupt + 1]["input_ids"])
    assert expected["bad-corrupt-image"] == "corrupt_image"


def test_estimated_lengths_match_real_token_counts(parts, tmp_path):
    _, tok, processor, spec = parts
    write_tiny_dataset(tmp_path)
    mixture = load_mixture(tmp_path / "tiny_extract.yaml")
    lengths, has_image = mixture_lengths(mixture, tok, "qwen_1_5", spec, tmp_path / "cache")
    ds = SupervisedDataset(mixture, tok, processor, spec, "qwen_1_5")
    real = np.array([ds[i]["num_tokens"] for i in range(len(ds))])
    assert has_image.sum() == 24 and (~has_image).sum() == 3
    # Same image-token arithmetic; text within a few template tokens.
    assert np.abs(lengths - real).max() <= 4, (lengths - real)
    again, _ = mixture_lengths(mixture, tok, "qwen_1_5", spec, tmp_path / "cache")  # from the cache
    assert np.array_equal(again, lengths)


def test_collator_pads(parts, tmp_path):
    _, tok, processor, spec = parts
    write_tiny_dataset(tmp_path)
    mixture = load_mixture(tmp_path / "tiny_extract.yaml")
    ds = SupervisedDataset(mixture, tok, processor, spec, "qwen_1_5")
    items = [ds[0], ds[1], ds[len(ds) - 1]]  # two image samples, one text-only
    padded = SupervisedCollator(pad_token_id=tok.pad_token_id)(items)
    lens = [len(it["input_ids"]) for it in items]
    assert padded["input_ids"].shape == (3, max(lens))
    assert padded["attention_mask"].sum(1).tolist() == lens
    assert len(padded["images"]) == 2 and padded["modalities"] == ["image", "image"]
    assert (padded["input_ids"] == IMAGE_TOKEN_INDEX).sum() == 2
    assert padded["meta"]["num_samples"] == 3 and padded["meta"]["num_tokens"] == sum(it["num_tokens"] for it in items)


def test_overlong_truncate_keeps_the_sample(parts, tmp_path):
    _, tok, processor, spec = parts
    yaml_path, _ = write_bad_dataset(tmp_path, model_max_length=256, num_good=6)
    mixture = load_mixture(yaml_path)
    ds = SupervisedDataset(mixture, tok, processor, spec, "qwen_1_5", model_max_length=256, overlong="truncate")
    i = [mixture.get(k)[0]["id"] for k in range(len(ds))].index("bad-over-long")
    item = ds[i]
    assert item["skipped"] == [] and item["num_tokens"] == 256
    assert (item["input_ids"] == IMAGE_TOKEN_INDEX).sum() == 1 and (item["labels"] != IGNORE_INDEX).any()
