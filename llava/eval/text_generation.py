"""Batched chat generation with a text-only causal LM (stage 0 focus and stage 2 reasoning).

Prompts are rendered with the model's own chat template, sorted by length (less padding), left
padded and generated in batches; results come back per batch so callers can write them to disk as
they go. Sampling settings are explicit: what is not set here comes from the model's
``generation_config`` (e.g. Qwen3's top_k=20, and ``do_sample`` when it is None), as with plain
``model.generate``.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, Sequence

import torch

# Model loading is shared with the datagen teachers; these names stay importable from here.
from llava.model.causal_lm import load_causal_lm, resolve_device  # noqa: F401


@dataclass
class SamplingSettings:
    do_sample: bool | None       # None: the model's generation_config decides (the paper's call)
    max_new_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None

    def generate_kwargs(self) -> dict:
        kwargs = {"max_new_tokens": self.max_new_tokens}
        if self.do_sample is False:  # greedy: silence sampling fields inherited from generation_config
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            return kwargs
        if self.do_sample:
            kwargs["do_sample"] = True
        for key in ("temperature", "top_p", "top_k"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        return kwargs

    def to_dict(self) -> dict:
        return asdict(self)


def chat_prompt(tokenizer, user_text: str, enable_thinking: bool | None = None) -> str:
    """One user turn rendered with the tokenizer's chat template, ready for the assistant."""
    kwargs = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
    return tokenizer.apply_chat_template([{"role": "user", "content": user_text}], tokenize=False,
                                         add_generation_prompt=True, **kwargs)


def load_tokenizer(name_or_path: str):
    """The model's tokenizer alone (left padding), e.g. to resolve token ids before loading weights."""
    from transformers import AutoTokenizer

    from llava.model.causal_lm import _check_model_path, left_padded

    _check_model_path(name_or_path)
    return left_padded(AutoTokenizer.from_pretrained(name_or_path))


@dataclass
class Generation:
    key: str
    text: str
    num_tokens: int
    stopped: bool   # ended with an end-of-sequence token (False: hit max_new_tokens)
    token_ids: list[int]


def batch_seed(seed: int, keys: Sequence[str]) -> int:
    """A seed for one batch, fixed by the run seed and the batch's members."""
    digest = hashlib.sha256((str(seed) + "\0" + "\0".join(keys)).encode()).hexdigest()
    return int(digest[:8], 16)


def generate_batches(model, tokenizer, prompts: dict[str, str], settings: SamplingSettings,
                     batch_size: int, seed: int = 0,
                     processors: Callable[[int], list] | None = None,
                     progress=None) -> Iterator[list[Generation]]:
    """Yield generations batch by batch for ``prompts`` (key -> rendered prompt text).

    ``processors(prompt_length)`` returns the logits processors for one batch whose left-padded
    prompts are ``prompt_length`` tokens long.
    """
    from transformers import LogitsProcessorList

    if tokenizer.padding_side != "left":
        raise ValueError("batched generation needs a left-padding tokenizer")
    encoded = {k: tokenizer(p, add_special_tokens=False)["input_ids"] for k, p in prompts.items()}
    order = sorted(encoded, key=lambda k: len(encoded[k]), reverse=True)
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
    pad_id = tokenizer.pad_token_id
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        keys = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[k] for k in keys]}, padding=True, return_tensors="pt")
        input_ids = batch["input_ids"].to(device)
        attention_mask = batch["attention_mask"].to(device)
        prompt_len = input_ids.shape[1]
        extra = {}
        if processors is not None:
            extra["logits_processor"] = LogitsProcessorList(processors(prompt_len))
        torch.manual_seed(batch_seed(seed, keys))   # sampling may come from generation_config
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                 pad_token_id=pad_id, **settings.generate_kwargs(), **extra)
        results = []
        for row, key in enumerate(keys):
            new = out[row, prompt_len:].tolist()
            cut = next((i for i, t in enumerate(new) if t in eos_ids), None)
            stopped = cut is not None
            new = new[:cut] if stopped else new
            text = tokenizer.decode(new, skip_special_tokens=True)
            results.append(Generation(key=key, text=text, num_tokens=len(new), stopped=stopped,
                                      token_ids=new))
        if progress is not None:
            progress.update(len(keys))
        yield results
