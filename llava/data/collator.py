"""Batch collation: right-padded batches (packing, when on, happens after the image features are
spliced in: see llava/train/packing.py).

Images of all samples are flattened into one list in sample order (LLaVA-NeXT's convention), each
with its (w, h) size and modality; the model splices them in at the IMAGE_TOKEN_INDEX
placeholders. Bookkeeping that is not a model input (`skipped` samples, token counts) is returned
under `meta`, which the trainer pops before the forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from llava.constants import IGNORE_INDEX


@dataclass
class SupervisedCollator:
    pad_token_id: int

    def __call__(self, items: list[dict]) -> dict:
        meta = {"skipped": [s for it in items for s in it.get("skipped", [])],
                "num_tokens": sum(int(it["num_tokens"]) for it in items),
                "num_samples": len(items)}
        batch = self._pad(items)
        batch["images"] = [img for it in items for img in it["images"]]
        batch["image_sizes"] = [list(s) for it in items for s in it["image_sizes"]]
        batch["modalities"] = [m for it in items for m in it["modalities"]]
        batch["meta"] = meta
        return batch

    def _pad(self, items: list[dict]) -> dict:
        longest = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(items), longest), dtype=torch.long)
        for row, it in enumerate(items):
            n = len(it["input_ids"])
            ids[row, :n] = it["input_ids"]
            labels[row, :n] = it["labels"]
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
