"""Padding-free packing of a micro-batch after the image features are spliced in.

The model's `prepare_inputs_labels_for_multimodal` turns the padded batch into embeddings (images
inserted, padding re-applied). Packing then keeps only the real positions, concatenated into one
row, with `position_ids` restarting at 0 for each sample and no attention mask: transformers
derives the sequence boundaries from the position ids (flash-attention varlen on GPU; a
block-diagonal mask for sdpa/eager), so no compute is spent on padding. The first label of each
sample is ignored so no sample is trained to continue the previous one.
"""
from __future__ import annotations

import contextlib

import torch

from llava.constants import IGNORE_INDEX


def pack_spliced_batch(core_model, inputs: dict) -> dict:
    """Padded batch (input_ids, attention_mask, labels, images, ...) -> one packed row of embeddings."""
    _, position_ids, mask, _, embeds, labels = core_model.prepare_inputs_labels_for_multimodal(
        inputs["input_ids"], None, inputs.get("attention_mask"), None, inputs["labels"], inputs.get("images"),
        inputs.get("modalities"), inputs.get("image_sizes"))
    keep = mask.bool()
    lengths = keep.sum(1)
    flat_labels = labels[keep].clone()
    starts = torch.cumsum(torch.cat([lengths.new_zeros(1), lengths[:-1]]), 0)
    flat_labels[starts] = IGNORE_INDEX
    # No KV cache: transformers only derives packed boundaries from position ids without one.
    return {"inputs_embeds": embeds[keep].unsqueeze(0), "labels": flat_labels.unsqueeze(0),
            "position_ids": position_ids[keep].unsqueeze(0), "use_cache": False}


@contextlib.contextmanager
def packed_forward(core_model):
    """While active, `core_model.forward` takes the usual padded batch and runs it packed.

    The packing happens inside the forward call on purpose: under ZeRO-3, DeepSpeed gathers
    partitioned parameters (e.g. `image_newline`) only while its engine's forward is running.
    """
    original = core_model.forward

    def forward(input_ids=None, attention_mask=None, labels=None, images=None, image_sizes=None,
                modalities=None, **kwargs):
        packed = pack_spliced_batch(core_model, {"input_ids": input_ids, "attention_mask": attention_mask,
                                                 "labels": labels, "images": images, "image_sizes": image_sizes,
                                                 "modalities": modalities})
        kwargs.pop("use_cache", None)
        return original(**packed, **kwargs)

    core_model.forward = forward
    try:
        yield
    finally:
        del core_model.forward
