"""Padding-free packing of a micro-batch after the image features are spliced in.

The model's `prepare_inputs_labels_for_multimodal` turns the padded batch into embeddings (images
inserted, padding re-applied). Packing then keeps only the real positions, concatenated into one
row, with `position_ids` restarting at 0 for each sample and no attention mask: transformers
derives the sequence boundaries from the position ids (flash-attention varlen on GPU; a
block-diagonal mask for sdpa/eager), so no compute is spent on padding. The first label of each
sample is ignored so no sample is trained to continue the previous one.
"""
from __future__ import annotations

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
