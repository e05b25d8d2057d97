"""Packing after image splicing gives the same loss and gradients as the padded batch
(sdpa on CPU: transformers builds the block-diagonal mask from the restarting position ids)."""
import pytest
import torch

from llava.data.collator import SupervisedCollator
from llava.data.dataset import SupervisedDataset
from llava.data.mixture import load_mixture
from llava.train.packing import pack_spliced_batch, packed_forward


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from llava.model.builder import load_pretrained_model
    from llava.train.model_setup import image_token_spec
    from llava.train.tiny_assets import prepare_tiny_assets

    assets = prepare_tiny_assets(tmp_path_factory.mktemp("pack") / "tiny")
    tok, model, processor, _ = load_pretrained_model(assets["TINY_CHECKPOINT"], None, None, device_map=None,
                                                     torch_dtype="float32", attn_implementation="sdpa")
    ds = SupervisedDataset(load_mixture(assets["TINY_DATA_EXTRACT"]), tok, processor, image_token_spec(model))
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
    packed_inputs = pack_spliced_batch(model, batch)
    assert packed_inputs["inputs_embeds"].shape[:2] == (1, int(packed_inputs["position_ids"].shape[1]))
    assert (packed_inputs["position_ids"][0] == 0).sum() == 3
    packed = model(**packed_inputs).loss
    packed.backward()
    torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-6)
    for n, p in model.named_parameters():
        if n in grads:
            torch.testing.assert_close(p.grad, grads[n], rtol=1e-4, atol=1e-6, msg=n)

    # What the trainer runs: the padded batch through the packing forward wrapper.
    with packed_forward(model):
        wrapped = model(**batch).loss
    assert "forward" not in vars(model)  # the wrapper is gone afterwards
    torch.testing.assert_close(wrapped, padded, rtol=1e-5, atol=1e-6)
