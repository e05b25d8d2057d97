"""The collator's packed row, passed to the model as it is (what the trainer does), gives the same
loss and gradients as the padded batch (sdpa on CPU: transformers builds the block-diagonal mask
from the restarting position ids)."""
import pytest
import torch

from llava.constants import IGNORE_INDEX
from llava.data.collator import SupervisedCollator
from llava.data.dataset import SupervisedDataset
from llava.data.mixture import load_mixture


@pytest.fixture(scope="module")
def setup(tmp_path_factory, copy_tiny_assets):
    from llava.model.builder import load_pretrained_model
    from llava.train.model_setup import image_token_spec

    assets = copy_tiny_assets(tmp_path_factory.mktemp("pack") / "tiny")
    tok, model, processor, _ = load_pretrained_model(str(assets.checkpoint), None, None, device_map=None,
                                                     torch_dtype="float32", attn_implementation="sdpa")
    ds = SupervisedDataset(load_mixture(str(assets.data_extract)), tok, processor, image_token_spec(model))
    return tok, model, ds


def test_packed_loss_and_grads_equal_padded(setup):
    tok, model, ds = setup
    items = [ds[0], ds[3], ds[len(ds) - 1]]  # different lengths, one text-only
    batch = SupervisedCollator(tok.pad_token_id)(items)
    batch.pop("meta")
    model.train()
    model.zero_grad()
    padded = model(**batch).loss
    padded.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    packed_inputs = SupervisedCollator(tok.pad_token_id, packed=True)(items)
    packed_inputs.pop("meta")
    assert "attention_mask" not in packed_inputs
    assert packed_inputs["input_ids"].shape == (1, int(packed_inputs["position_ids"].shape[1]))
    assert (packed_inputs["position_ids"][0] == 0).sum() == 3
    # The Trainer normalises the loss by the labels it counts (labels[..., 1:]): same count as padded.
    assert (packed_inputs["labels"][:, 1:] != IGNORE_INDEX).sum() == (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    packed = model(**packed_inputs).loss
    packed.backward()
    torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-6)
    for n, p in model.named_parameters():
        if n in grads:
            torch.testing.assert_close(p.grad, grads[n], rtol=1e-4, atol=1e-6, msg=n)


def test_over_budget_micro_batch_is_padded(setup):
    """The model cuts a packed row at tokenizer_model_max_length as a whole; a micro-batch longer
    than that together is padded instead, so every sample keeps its own length budget."""
    tok, _, ds = setup
    items = [ds[0], ds[3]]
    total = sum(int(it["num_tokens"]) for it in items)
    fits = SupervisedCollator(tok.pad_token_id, packed=True, max_packed_tokens=total)(items)
    assert fits["input_ids"].shape[0] == 1 and "attention_mask" not in fits
    over = SupervisedCollator(tok.pad_token_id, packed=True, max_packed_tokens=total - 1)(items)
    padded = SupervisedCollator(tok.pad_token_id)(items)
    assert over.keys() == padded.keys()
    for key in ("input_ids", "labels", "attention_mask"):
        assert torch.equal(over[key], padded[key]), key
