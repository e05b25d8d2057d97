"""Padding-free packing: one row of concatenated samples (position_ids restarting at 0, no
attention_mask) must give exactly the per-token logits, loss and gradients of the samples run one
by one. Reference: the same model's unpacked forward per sample (fp32)."""
import logging

import pytest
import torch

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.image import prepare_sample_images
from llava.mm_utils import process_images
from llava.model.multimodal import is_packed
from llava.tiny import models as tiny
from model_helpers import random_pil

ATOL = 2e-5


@pytest.fixture(scope="module", params=["qwen3", "qwen2"])
def model(request, tiny_tower_dir):
    return tiny.build_tiny_llava_model(tiny_tower_dir, request.param, seed=1).float().eval()


def _tokens(n, seed):
    return torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(seed))


def _sample(seed, n_images, prompt_len=5, answer_len=6):
    """ids with `n_images` placeholders after a short prompt; labels on the prompt's first token
    too, so the packed row must ignore each sample's first label."""
    ids = torch.cat([_tokens(2, seed), torch.full((n_images,), IMAGE_TOKEN_INDEX), _tokens(prompt_len, seed + 1),
                     _tokens(answer_len, seed + 2)])
    labels = ids.clone()
    labels[2:2 + n_images + prompt_len] = IGNORE_INDEX
    return ids, labels


@pytest.fixture(scope="module")
def samples(model):
    """anyres non-square image (via prepare_sample_images), text-only, two images (pad, via process_images)."""
    tower, cfg = model.get_vision_tower(), model.config
    processor = tower.image_processor
    anyres = prepare_sample_images([random_pil(150, 90, seed=1)], processor, cfg.image_aspect_ratio,
                                   cfg.image_grid_pinpoints, tower.num_patches_per_side)
    assert anyres.pixel_values[0].shape[0] > 1  # base view + tiles
    pair = [random_pil(64, 64, seed=2), random_pil(100, 40, seed=3)]
    cfg_pad = type("Cfg", (), {"image_aspect_ratio": "pad", "image_grid_pinpoints": None})()
    pair_pixels = process_images(pair, processor, cfg_pad)
    out = []
    for seed, images, sizes in [(10, anyres.pixel_values, anyres.image_sizes), (20, [], []),
                                (30, list(pair_pixels), [im.size for im in pair])]:
        ids, labels = _sample(seed, len(images))
        out.append({"ids": ids, "labels": labels, "images": images, "sizes": sizes,
                    "expected_image_tokens": anyres.num_tokens[0] if seed == 10 else None})
    return out


def _set_attn(model, impl):
    model.set_attn_implementation(impl)
    assert model.config._attn_implementation == impl


def _reference(model, samples):
    """Per-sample unpacked forwards: logits, loss and the number of trained targets of each."""
    outs = []
    for s in samples:
        out = model(input_ids=s["ids"][None], labels=s["labels"][None], images=s["images"] or None,
                    image_sizes=s["sizes"] or None)
        outs.append((out.logits[0], out.loss, int((s["labels"][1:] != IGNORE_INDEX).sum())))
    return outs


def _packed_inputs(samples):
    return {"input_ids": torch.cat([s["ids"] for s in samples])[None],
            "labels": torch.cat([s["labels"] for s in samples])[None],
            "position_ids": torch.cat([torch.arange(len(s["ids"])) for s in samples])[None],
            "images": [img for s in samples for img in s["images"]],
            "image_sizes": [size for s in samples for size in s["sizes"]]}


def _weighted_loss(ref):
    return sum(loss * n for _, loss, n in ref) / sum(n for _, _, n in ref)


def test_model_advertises_packing(model):
    assert type(model).supports_packed_sequences is True


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_packed_row_equals_unpacked_samples(model, samples, impl):
    _set_attn(model, impl)
    with torch.no_grad():
        ref = _reference(model, samples)
        # use_cache left to the config (True): transformers would then make a KV cache and skip
        # the packed mask; the model must turn the cache off for packed input.
        packed = model(**_packed_inputs(samples))
    assert samples[0]["expected_image_tokens"] + len(samples[0]["ids"]) - 1 == ref[0][0].shape[0]
    lengths = [logits.shape[0] for logits, _, _ in ref]
    assert packed.logits.shape[1] == sum(lengths)
    for k, (got, (want, _, _)) in enumerate(zip(packed.logits[0].split(lengths), ref)):
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0, msg=f"{impl}: packed sample {k} logits differ")
    torch.testing.assert_close(packed.loss, _weighted_loss(ref), atol=ATOL, rtol=0)


def test_packed_gradients_equal_unpacked(model, samples):
    _set_attn(model, "sdpa")
    params = [p for p in model.parameters() if p.requires_grad]
    want = torch.autograd.grad(_weighted_loss(_reference(model, samples)), params, allow_unused=True)
    got = torch.autograd.grad(model(**_packed_inputs(samples)).loss, params, allow_unused=True)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    checked = 0
    for name, g, w in zip(names, got, want):
        if w is None:
            assert g is None or not g.any(), name
            continue
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4, msg=f"gradient of {name} differs")
        checked += 1
    assert any(n.startswith("model.vision_tower") for n, w in zip(names, want) if w is not None)
    assert checked > len(params) // 2


def test_prepare_rebuilds_positions_per_expanded_sample(model, samples):
    inputs = _packed_inputs(samples)
    with torch.no_grad():
        ref = _reference(model, samples)
        _, pos, mask, _, embeds, labels = model.prepare_inputs_labels_for_multimodal(
            inputs["input_ids"], inputs["position_ids"], None, None, inputs["labels"], inputs["images"],
            None, inputs["image_sizes"])
    lengths = [logits.shape[0] for logits, _, _ in ref]
    assert mask is None and embeds.shape[:2] == (1, sum(lengths))
    torch.testing.assert_close(pos[0], torch.cat([torch.arange(n) for n in lengths]))
    starts = torch.tensor([0, *lengths[:-1]]).cumsum(0)
    assert (labels[0, starts] == IGNORE_INDEX).all()


def test_wrong_position_ids_are_detected(model, samples):
    """The test above can fail: positions not rebuilt after splicing (restarting at the token-level
    sample starts) or not restarting at all give different logits than the reference."""
    _set_attn(model, "sdpa")
    inputs = _packed_inputs(samples)
    with torch.no_grad():
        ref = _reference(model, samples)
        _, pos, _, _, embeds, labels = model.prepare_inputs_labels_for_multimodal(
            inputs["input_ids"], inputs["position_ids"], None, None, inputs["labels"], inputs["images"],
            None, inputs["image_sizes"])
        want = torch.cat([logits for logits, _, _ in ref])
        right = model(inputs_embeds=embeds, position_ids=pos, labels=labels).logits[0]
        torch.testing.assert_close(right, want, atol=ATOL, rtol=0)  # the inputs_embeds route packs too
        not_rebuilt = inputs["position_ids"][0].tolist()
        not_rebuilt += list(range(not_rebuilt[-1] + 1, not_rebuilt[-1] + 1 + embeds.shape[1] - len(not_rebuilt)))
        for wrong in (torch.tensor(not_rebuilt)[None], torch.arange(embeds.shape[1])[None]):
            assert not torch.allclose(model(inputs_embeds=embeds, position_ids=wrong).logits[0], want, atol=1e-3)


def test_packed_validation_and_truncation(model, samples, caplog):
    inputs = _packed_inputs(samples[1:2] * 2)
    inputs.pop("images"), inputs.pop("image_sizes")
    two_rows = {k: v.expand(2, -1) for k, v in inputs.items()}
    with pytest.raises(ValueError, match="must be one row"):
        model(**two_rows)
    bad = dict(inputs, position_ids=inputs["position_ids"] + (inputs["position_ids"] > 3).long())
    with pytest.raises(ValueError, match="position_ids must be 0, 1, 2"):
        model(**bad)
    assert is_packed(inputs["position_ids"]) and not is_packed(torch.arange(7)[None])

    with torch.no_grad():
        full = model(**inputs).logits
        model.config.tokenizer_model_max_length = 20
        try:
            with caplog.at_level(logging.WARNING):
                cut = model(**inputs).logits
        finally:
            model.config.tokenizer_model_max_length = 2048
    assert cut.shape[1] == 20 and "packed row" in caplog.text
    torch.testing.assert_close(cut, full[:, :20])
