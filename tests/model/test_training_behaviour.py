"""Forward/backward behaviour that training relies on: speed, gradient checkpointing, ZeRO-3-safe
text-only batches, label masking, truncation, and input validation."""
import copy
import logging
import time

import pytest
import torch

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.tiny import models as tiny


def _vision_params(model):
    inner = model.get_model()
    named = [(f"tower.{n}", p) for n, p in inner.vision_tower.named_parameters() if "post_layernorm" not in n]
    named += [(f"projector.{n}", p) for n, p in inner.mm_projector.named_parameters()]
    named.append(("image_newline", inner.image_newline))
    return named


def _batch():
    ids = torch.tensor([[5, 6, IMAGE_TOKEN_INDEX, 7, 8, 9], [5, 10, 11, 12, 0, 0]])
    mask = torch.tensor([[1] * 6, [1, 1, 1, 1, 0, 0]])
    labels = ids.clone()
    labels[0, :3] = IGNORE_INDEX
    labels[mask == 0] = IGNORE_INDEX
    return ids, mask, labels


@pytest.fixture
def train_model(tiny_model):
    model = copy.deepcopy(tiny_model)
    model.train()
    return model


def test_forward_backward_is_fast(train_model):
    ids, mask, labels = _batch()
    images = [torch.randn(7, 3, 64, 64), torch.zeros(1, 3, 64, 64)]
    start = time.perf_counter()
    out = train_model(input_ids=ids, attention_mask=mask, labels=labels, images=images,
                      image_sizes=[(150, 100), (64, 64)], modalities=["image", "text"])
    out.loss.backward()
    assert time.perf_counter() - start < 5.0
    assert torch.isfinite(out.loss)
    assert all(p.grad is not None for _, p in train_model.named_parameters()
               if p.requires_grad and "post_layernorm" not in _)


def test_gradient_checkpointing_gives_same_grads(tiny_model):
    ids, mask, labels = _batch()
    images = [torch.randn(7, 3, 64, 64), torch.zeros(1, 3, 64, 64)]
    grads = []
    for checkpointing in (False, True):
        model = copy.deepcopy(tiny_model).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
            assert model.is_gradient_checkpointing
        out = model(input_ids=ids, attention_mask=mask, labels=labels, images=images,
                    image_sizes=[(150, 100), (64, 64)], modalities=["image", "text"])
        out.loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("with_dummy", [True, False])
def test_text_only_batch_touches_all_vision_params(train_model, with_dummy):
    ids = torch.tensor([[5, 6, 7, 8]])
    kwargs = dict(images=[torch.zeros(1, 3, 64, 64)], modalities=["text"], image_sizes=[(64, 64)]) if with_dummy else {}
    out = train_model(input_ids=ids, labels=ids, **kwargs)
    out.loss.backward()
    for name, p in _vision_params(train_model):
        assert p.grad is not None, name
        assert torch.count_nonzero(p.grad) == 0, name
    with torch.no_grad():
        plain = train_model.eval()(input_ids=ids).logits
    torch.testing.assert_close(out.logits, plain)


def test_image_positions_are_ignored_in_labels(tiny_model):
    ids, mask, labels = _batch()
    labels[0] = ids[0]  # even if the caller forgot, image positions must not be trained on
    labels[0, 2] = IGNORE_INDEX
    _, pos, new_mask, _, embeds, new_labels = tiny_model.prepare_inputs_labels_for_multimodal(
        ids, None, mask, None, labels, [torch.randn(7, 3, 64, 64)], None, [(150, 100)])
    n_img = embeds.shape[1] - 5  # sample 0: 5 text tokens + image features
    assert new_labels[0, :2].tolist() == [5, 6]
    assert (new_labels[0, 2:2 + n_img] == IGNORE_INDEX).all()
    assert new_labels[0, 2 + n_img:].tolist() == [7, 8, 9]
    assert new_mask[1].tolist() == [1, 1, 1, 1] + [0] * (embeds.shape[1] - 4)
    assert pos[0].tolist() == list(range(embeds.shape[1]))
    assert (new_labels[1, 4:] == IGNORE_INDEX).all()


def test_left_padding_for_generation(tiny_model):
    ids, mask, _ = _batch()
    _, pos, new_mask, _, embeds, _ = tiny_model.prepare_inputs_labels_for_multimodal(
        ids, None, mask, None, None, [torch.randn(7, 3, 64, 64)], None, [(150, 100)], padding_side="left")
    width = embeds.shape[1]
    assert new_mask[1].tolist() == [0] * (width - 4) + [1, 1, 1, 1]
    assert pos[1, -4:].tolist() == [0, 1, 2, 3]
    torch.testing.assert_close(embeds[1, -4:], tiny_model.get_model().embed_tokens(ids[1, :4]))


def test_truncation_to_model_max_length_warns(tiny_model, caplog):
    model = copy.deepcopy(tiny_model)
    model.config.tokenizer_model_max_length = 20
    ids = torch.tensor([[5, 6, IMAGE_TOKEN_INDEX, 7, 8, 9]])
    with caplog.at_level(logging.WARNING, logger="llava.model.multimodal"):
        _, _, _, _, embeds, labels = model.prepare_inputs_labels_for_multimodal(
            ids, None, None, None, ids.clone(), [torch.randn(7, 3, 64, 64)], None, [(150, 100)])
    assert embeds.shape[1] == 20 and labels.shape[1] == 20
    assert "truncating 1 sample" in caplog.text


def test_mismatched_images_and_tokens_are_reported(tiny_model):
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, IMAGE_TOKEN_INDEX]])
    with pytest.raises(ValueError, match="more <image> tokens than images"):
        tiny_model(input_ids=ids, images=[torch.randn(1, 3, 64, 64)], image_sizes=[(64, 64)])
    with pytest.raises(ValueError, match="2 images were passed but the batch has 1"):
        tiny_model(input_ids=ids[:, :3], images=[torch.randn(1, 3, 64, 64)] * 2, image_sizes=[(64, 64)] * 2)
    with pytest.raises(ValueError, match="no images were passed"):
        tiny_model(input_ids=ids)
    with pytest.raises(ValueError, match="tiles"):
        tiny_model(input_ids=ids[:, :3], images=[torch.randn(5, 3, 64, 64)], image_sizes=[(150, 100)])


def test_image_tensor_forms_are_equivalent(tiny_model):
    """5-D batch, list of crops, and 4-D (one crop per image) all give the same result."""
    crops = torch.randn(7, 3, 64, 64)
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6]])
    with torch.no_grad():
        a = tiny_model(input_ids=ids, images=[crops], image_sizes=[(150, 100)]).logits
        b = tiny_model(input_ids=ids, images=crops[None], image_sizes=[(150, 100)]).logits
        c = tiny_model(input_ids=ids, images=crops[:1], image_sizes=[(150, 100)]).logits
        d = tiny_model(input_ids=ids, images=[crops[0]], image_sizes=[(150, 100)]).logits
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(c, d)
    assert c.shape[1] == 2 + 16 + 1  # one crop: 16 patches + newline


def test_qwen2_variant_builds_and_runs(tiny_tower_dir):
    model = tiny.build_tiny_llava_model(tiny_tower_dir, "qwen2").train()
    assert type(model).__name__ == "LlavaQwenForCausalLM" and model.config.model_type == "llava_qwen"
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, 7]])
    out = model(input_ids=ids, labels=ids, images=[torch.randn(7, 3, 64, 64)], image_sizes=[(150, 100)])
    out.loss.backward()
    assert model.get_model().mm_projector[0].weight.grad.abs().sum() > 0


def test_qwen2_checkpoint_round_trip(tmp_path):
    from llava.model.builder import load_pretrained_model

    ckpt = tiny.build_tiny_llava_checkpoint(tmp_path / "q2", llm="qwen2")
    _, model, _, _ = load_pretrained_model(str(ckpt), None, None, device_map="cpu", torch_dtype="float32")
    assert type(model).__name__ == "LlavaQwenForCausalLM"


def test_mlp_depth_and_projector_keys():
    from llava.model.projectors import build_projector

    mlp3 = build_projector("mlp3x_gelu", 8, 16)
    assert sorted(mlp3.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"]
    assert isinstance(build_projector("linear", 8, 16), torch.nn.Linear)
    x = torch.randn(2, 16)
    assert torch.equal(build_projector("identity", 16, 16)(x), x)
    with pytest.raises(ValueError, match="identity"):
        build_projector("identity", 8, 16)
    with pytest.raises(ValueError, match="unknown mm_projector_type"):
        build_projector("mlp2x_relu", 8, 16)


def test_choose_attn_implementation(caplog):
    from llava.model.attention import choose_attn_implementation, flash_attn_available

    expected = "flash_attention_2" if flash_attn_available() else "sdpa"
    assert choose_attn_implementation(None) == expected
    assert choose_attn_implementation("eager") == "eager"
    if not flash_attn_available():
        with caplog.at_level(logging.WARNING):
            assert choose_attn_implementation("flash_attention_2") == "sdpa"
        assert "flash-attn" in caplog.text
    with pytest.raises(ValueError, match="unknown attn_implementation"):
        choose_attn_implementation("fast")
