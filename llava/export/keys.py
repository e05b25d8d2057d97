"""State-dict key mapping between the LLaVA-NeXT layout and the transformers-native LlavaOnevision layout.

LLaVA-NeXT (what this project trains and the released checkpoints use):
    model.embed_tokens / model.layers.* / model.norm / lm_head (absent when tied)
    model.vision_tower.vision_tower.vision_model.*   (transformers 4.x SigLIP spelling; 5.x drops `vision_model.`)
    model.mm_projector.0 / .2, model.image_newline
transformers-native, written in the llava-hf layout that transformers 4.x and 5.x, vLLM and SGLang all load:
    language_model.model.*, language_model.lm_head, vision_tower.vision_model.*,
    multi_modal_projector.linear_1 / linear_2, image_newline
transformers 5's own in-memory names (model.language_model.*, model.vision_tower.* without
`vision_model.`, lm_head) are accepted on input too.
"""
from __future__ import annotations

import torch

NEXT_TOWER = "model.vision_tower.vision_tower.vision_model."
NEXT_PROJECTOR = {"model.mm_projector.0.": "multi_modal_projector.linear_1.",
                  "model.mm_projector.2.": "multi_modal_projector.linear_2."}


def normalize_llava_next_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Canonical LLaVA-NeXT keys: adds the 4.x `vision_model.` level where a 5.x save left it out,
    and drops the SigLIP pooling head (LLaVA never uses it)."""
    out = {}
    for key, value in state.items():
        if key.startswith("model.vision_tower.vision_tower.") and not key.startswith(NEXT_TOWER):
            key = NEXT_TOWER + key[len("model.vision_tower.vision_tower."):]
        if key.startswith(NEXT_TOWER + "head."):
            continue
        out[key] = value
    return out


def llava_next_to_native(state: dict[str, torch.Tensor], tie_word_embeddings: bool) -> dict[str, torch.Tensor]:
    """Rename a LLaVA-NeXT state dict to the llava-hf native layout; raises on keys it does not know."""
    state = normalize_llava_next_keys(state)
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith(NEXT_TOWER):
            out["vision_tower.vision_model." + key[len(NEXT_TOWER):]] = value
        elif any(key.startswith(p) for p in NEXT_PROJECTOR):
            prefix = next(p for p in NEXT_PROJECTOR if key.startswith(p))
            out[NEXT_PROJECTOR[prefix] + key[len(prefix):]] = value
        elif key == "model.image_newline":
            out["image_newline"] = value
        elif key == "lm_head.weight":
            out["language_model.lm_head.weight"] = value
        elif key.startswith("model."):
            out["language_model." + key] = value
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"keys that are not part of a LLaVA-NeXT Qwen3 checkpoint: {unknown[:8]}")
    if "language_model.lm_head.weight" not in out:
        if not tie_word_embeddings:
            raise KeyError("lm_head.weight is missing and tie_word_embeddings is false: the checkpoint is incomplete")
        # Tied: the llava-hf layout carries an explicit copy, so loaders that do not tie still work.
        out["language_model.lm_head.weight"] = out["language_model.model.embed_tokens.weight"]
    return out


def canonical_native_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept the transformers 5 in-memory spelling and return the llava-hf layout."""
    out = {}
    for key, value in state.items():
        if key.startswith("model.language_model."):
            key = "language_model.model." + key[len("model.language_model."):]
        elif key == "lm_head.weight":
            key = "language_model.lm_head.weight"
        elif key.startswith("model."):
            key = key[len("model."):]
        if key.startswith("vision_tower.") and not key.startswith("vision_tower.vision_model."):
            key = "vision_tower.vision_model." + key[len("vision_tower."):]
        out[key] = value
    return out


def native_to_llava_next(state: dict[str, torch.Tensor], tie_word_embeddings: bool) -> dict[str, torch.Tensor]:
    """Inverse of `llava_next_to_native` (the lm_head copy is dropped again when tied)."""
    state = canonical_native_keys(state)
    inverse_projector = {v: k for k, v in NEXT_PROJECTOR.items()}
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith("vision_tower.vision_model."):
            if key.startswith("vision_tower.vision_model.head."):
                continue
            out[NEXT_TOWER + key[len("vision_tower.vision_model."):]] = value
        elif any(key.startswith(p) for p in inverse_projector):
            prefix = next(p for p in inverse_projector if key.startswith(p))
            out[inverse_projector[prefix] + key[len(prefix):]] = value
        elif key == "image_newline":
            out["model.image_newline"] = value
        elif key == "language_model.lm_head.weight":
            if not tie_word_embeddings:
                out["lm_head.weight"] = value
        elif key.startswith("language_model.model."):
            out[key[len("language_model."):]] = value
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"keys that are not part of a LlavaOnevision (SigLIP + Qwen3) checkpoint: {unknown[:8]}")
    return out
