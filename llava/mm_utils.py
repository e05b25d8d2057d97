"""LLaVA-NeXT's multimodal helpers, under the names lmms-eval's `llava_onevision` wrapper imports.

`process_images(images, image_processor, model_cfg)`, `tokenizer_image_token(prompt, tokenizer,
IMAGE_TOKEN_INDEX, return_tensors="pt")`, `get_model_name_from_path(path)` and
`KeywordsStoppingCriteria(keywords, tokenizer, input_ids)` keep LLaVA-NeXT's call shapes.
"""
from __future__ import annotations

import weakref
from typing import Sequence

import torch
from transformers import StoppingCriteria

from llava.constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX
from llava.image.processing import process_image


def process_images(images: Sequence, image_processor, model_cfg):
    """Preprocess PIL images with `model_cfg.image_aspect_ratio` / `image_grid_pinpoints`.

    Returns one stacked tensor when every image gives the same shape ((N, crops, 3, H, W) for
    anyres, (N, 3, H, W) for `square`/`pad`), else a list of per-image tensors, as LLaVA-NeXT does.
    Callers decide the multi-image mode (lmms-eval sets `image_aspect_ratio="pad"` itself; the
    training dataset uses `llava.image.aspect_ratio_for_sample`).
    """
    mode = getattr(model_cfg, "image_aspect_ratio", None)
    pinpoints = getattr(model_cfg, "image_grid_pinpoints", None)
    tensors = [process_image(image, image_processor, mode, pinpoints) for image in images]
    if tensors and all(t.shape == tensors[0].shape for t in tensors):
        return torch.stack(tensors)
    return tensors


_PREFIX_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def tokenizer_prefix_ids(tokenizer) -> list[int]:
    """Special tokens the tokenizer puts in front of a text (a BOS for Llama-style, none for Qwen)."""
    try:
        return list(_PREFIX_CACHE[tokenizer])
    except (KeyError, TypeError):
        pass
    with_special = tokenizer("a").input_ids
    plain = tokenizer("a", add_special_tokens=False).input_ids
    prefix = with_special[: len(with_special) - len(plain)] if with_special[-len(plain):] == plain else []
    try:
        _PREFIX_CACHE[tokenizer] = tuple(prefix)
    except TypeError:  # not weak-referenceable: just recompute next time
        pass
    return list(prefix)


def tokenizer_image_token(prompt: str, tokenizer, image_token_index: int = IMAGE_TOKEN_INDEX,
                          return_tensors: str | None = None):
    """Tokenize `prompt`, replacing every `<image>` with `image_token_index`.

    The text between placeholders is tokenized piece by piece (never merged across an image),
    and the tokenizer's leading special tokens (BOS, if any) appear once, at the start.
    """
    chunks = prompt.split(DEFAULT_IMAGE_TOKEN)
    encoded = tokenizer(chunks, add_special_tokens=False).input_ids
    input_ids = tokenizer_prefix_ids(tokenizer)
    for index, ids in enumerate(encoded):
        if index:
            input_ids.append(image_token_index)
        input_ids.extend(ids)
    if return_tensors is None:
        return input_ids
    if return_tensors == "pt":
        return torch.tensor(input_ids, dtype=torch.long)
    raise ValueError(f"unsupported return_tensors {return_tensors!r}; use 'pt' or None")


def get_model_name_from_path(model_path: str) -> str:
    """Display name of a checkpoint: the last path part (`parent_checkpoint-N` for Trainer checkpoints).

    Only used for naming; this project never picks a model class from it.
    """
    parts = str(model_path).rstrip("/").split("/")
    if parts[-1].startswith("checkpoint-") and len(parts) > 1:
        return parts[-2] + "_" + parts[-1]
    return parts[-1]


class KeywordsStoppingCriteria(StoppingCriteria):
    """Stop each sequence of a batch once its generated text ends with one of `keywords`.

    Returns one flag per sequence (transformers' batched stopping-criteria contract), so in a
    batch a finished row stops while the others go on. A keyword matches either by token ids or,
    for keywords whose tokenization depends on context, by the decoded tail of the generation.
    """

    def __init__(self, keywords: Sequence[str], tokenizer, input_ids: torch.Tensor):
        self.keywords = [k for k in keywords if k]
        if not self.keywords:
            raise ValueError("KeywordsStoppingCriteria needs at least one non-empty keyword")
        self.tokenizer = tokenizer
        self.keyword_ids = [tokenizer(k, add_special_tokens=False).input_ids for k in self.keywords]
        self.max_keyword_len = max(len(ids) for ids in self.keyword_ids)
        self.start_len = input_ids.shape[1]

    def __call__(self, input_ids: torch.LongTensor, scores=None, **kwargs) -> torch.BoolTensor:
        generated = input_ids[:, self.start_len:]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if generated.shape[1] == 0:
            return done
        for ids in self.keyword_ids:
            if ids and generated.shape[1] >= len(ids):
                target = torch.tensor(ids, dtype=generated.dtype, device=generated.device)
                done |= (generated[:, -len(ids):] == target).all(dim=1)
        tail = generated[:, -min(generated.shape[1], self.max_keyword_len + 2):]
        for row in (~done).nonzero().flatten().tolist():
            text = self.tokenizer.decode(tail[row], skip_special_tokens=False)
            done[row] = any(keyword in text for keyword in self.keywords)
        return done
