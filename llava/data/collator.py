"""Batch collation: right-padded batches, or one packed row (padding-free) when packing is on.

Packed = the format the model accepts natively (`supports_packed_sequences`, see
`LlavaMetaForCausalLM._prepare_packed`): `input_ids` (1, L) with the samples concatenated (the
IMAGE_TOKEN_INDEX placeholders kept), `labels` (1, L), `position_ids` (1, L) restarting at 0 at each
sample start, and no attention_mask. The model splices the images in per sample inside its own
forward (so under ZeRO-3 the gathered parameters such as `image_newline` are available) and
derives the sample boundaries from the position ids. The model cuts a packed row at
`tokenizer_model_max_length` as a whole, so a micro-batch whose samples together exceed
`max_packed_tokens` (their real text + image token counts) is padded instead: each sample then
keeps its own length budget, exactly as without packing.

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
    packed: bool = False
    max_packed_tokens: int | None = None  # the model's tokenizer_model_max_length

    def __call__(self, items: list[dict]) -> dict:
        meta = {"skipped": [s for it in items for s in it.get("skipped", [])],
                "num_tokens": sum(int(it["num_tokens"]) for it in items),
                "num_samples": len(items)}
        fits = self.max_packed_tokens is None or meta["num_tokens"] <= self.max_packed_tokens
        batch = self._pack(items) if self.packed and fits else self._pad(items)
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

    @staticmethod
    def _pack(items: list[dict]) -> dict:
        ids = torch.cat([torch.as_tensor(it["input_ids"], dtype=torch.long) for it in items])
        labels = torch.cat([torch.as_tensor(it["labels"], dtype=torch.long) for it in items]).clone()
        lengths = [len(it["input_ids"]) for it in items]
        position_ids = torch.cat([torch.arange(n) for n in lengths])
        # The model ignores each sample's first label too (it is never predicted within its own
        # sample); doing it here keeps the Trainer's token count (num_items_in_batch, taken over
        # labels[..., 1:]) equal to the padded batch's.
        labels[torch.tensor([0, *lengths[:-1]]).cumsum(0)] = IGNORE_INDEX
        return {"input_ids": ids[None], "labels": labels[None], "position_ids": position_ids[None]}
