"""Thinking budget and reflexive-token blocking for batched generation (REFERENCE.md section 6).

The authors' processor keeps one step counter and edits ``scores[0]`` only, so it is correct at
batch size 1 only. Here every row is handled on its own: its thinking tokens are counted from its
own generation start, a row that has emitted ``</think>`` (by itself or forced) is left alone, and
reflexive words are blocked only while a row is still thinking. The processor is stateless (it
reads everything from ``input_ids``), so it survives being reused across ``generate`` calls.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

# Reflexive words whose tokens are blocked while thinking (REFERENCE.md section 6).
REFLEXIVE_WORDS = (
    "wait", "alternatively", "hmm", "but", "however", "alternative", "another", "check",
    "double-check", "oh", "maybe", "verify", "other", "again", "now", "ah", "anyway", "anyhow",
)


def reflexive_token_ids(tokenizer, words: Iterable[str] = REFLEXIVE_WORDS) -> list[int]:
    """Ids of tokens that spell exactly one of ``words`` (case-insensitive, leading spaces ignored).

    ``" Wait"``, ``"WAIT"`` and ``"wait"`` match ``wait``; ``"waiter"`` or ``"waiting"`` do not.
    Every id of the full vocabulary (added tokens included) is decoded on its own.
    """
    wanted = {w.strip().lower() for w in words if w.strip()}
    if not wanted:
        return []
    size = len(tokenizer)
    texts = tokenizer.batch_decode([[i] for i in range(size)], skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False)
    return [i for i, text in enumerate(texts) if text.lstrip(" ").lower() in wanted]


class ThinkingBudgetProcessor:
    """A ``transformers`` logits processor enforcing a per-row thinking budget.

    For a row still thinking, with ``t`` = 1-based index of the token being generated:
    - ``t/budget > 0.95``: the ``</think>`` and newline logits are raised by the factor
      ``1 + t/budget`` (scaled away from -inf: ``x + |x| * t/budget``, which is ``x*(1+t/budget)``
      for positive logits and never lowers a negative one, unlike a plain product);
    - ``t == budget - 1``: only the newline may be generated;
    - ``t >= budget``: only ``</think>`` may be generated;
    - ``blocked_ids`` (reflexive tokens) get -inf at every step.
    A row is thinking until ``</think>`` appears in its generated tokens. ``prompt_lengths`` gives
    each row's generation start column; left-padded batches (the default) share one start.
    """

    def __init__(self, think_end_id: int, newline_id: int, budget: int | None = None,
                 blocked_ids: Sequence[int] = (), prompt_lengths: Sequence[int] | int | None = None):
        if budget is not None and budget < 2:
            raise ValueError(f"thinking budget must be >= 2 tokens (newline + </think>), got {budget}")
        self.think_end_id = int(think_end_id)
        self.newline_id = int(newline_id)
        self.budget = budget
        self.blocked_ids = torch.tensor(sorted(set(int(i) for i in blocked_ids)), dtype=torch.long)
        if think_end_id in set(blocked_ids) or newline_id in set(blocked_ids):
            raise ValueError("</think> or the newline token is in the blocked set; the budget could not be enforced")
        self.prompt_lengths = prompt_lengths

    def _starts(self, input_ids: torch.Tensor) -> torch.Tensor:
        batch = input_ids.shape[0]
        if self.prompt_lengths is None:
            raise ValueError("ThinkingBudgetProcessor needs prompt_lengths (use for_prompt_length())")
        if isinstance(self.prompt_lengths, int):
            return torch.full((batch,), self.prompt_lengths, dtype=torch.long, device=input_ids.device)
        starts = torch.as_tensor(list(self.prompt_lengths), dtype=torch.long, device=input_ids.device)
        if starts.shape[0] != batch:
            raise ValueError(f"prompt_lengths has {starts.shape[0]} rows but the batch has {batch}")
        return starts

    def thinking_state(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(still_thinking [B] bool, t [B] = 1-based index of the token about to be generated)."""
        starts = self._starts(input_ids)
        cols = torch.arange(input_ids.shape[1], device=input_ids.device)
        generated = cols.unsqueeze(0) >= starts.unsqueeze(1)
        closed = ((input_ids == self.think_end_id) & generated).any(dim=1)
        t = input_ids.shape[1] - starts + 1
        return ~closed, t

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        thinking, t = self.thinking_state(input_ids)
        if not bool(thinking.any()):
            return scores
        scores = scores.clone()
        rows = thinking.nonzero(as_tuple=True)[0]
        neg_inf = torch.finfo(scores.dtype).min
        if self.blocked_ids.numel():
            blocked = self.blocked_ids.to(scores.device)
            blocked = blocked[blocked < scores.shape[1]]
            scores[rows.unsqueeze(1), blocked.unsqueeze(0)] = neg_inf
        if self.budget is None:
            return scores
        ratio = t.to(scores.dtype) / self.budget
        boost = rows[ratio[rows] > 0.95]
        if boost.numel():
            for tok in (self.think_end_id, self.newline_id):
                x = scores[boost, tok]
                scores[boost, tok] = torch.where(x > neg_inf, x + x.abs() * ratio[boost], x)
        force_nl = rows[t[rows] == self.budget - 1]
        force_end = rows[t[rows] >= self.budget]
        for force, tok in ((force_nl, self.newline_id), (force_end, self.think_end_id)):
            if force.numel():
                scores[force] = neg_inf
                scores[force, tok] = 0.0
        return scores

    def for_prompt_length(self, prompt_length: int) -> "ThinkingBudgetProcessor":
        """A copy bound to one ``generate`` call whose (left-padded) prompts are this long."""
        return ThinkingBudgetProcessor(self.think_end_id, self.newline_id, self.budget,
                                       self.blocked_ids.tolist(), prompt_length)


def special_ids(tokenizer) -> tuple[int, int]:
    """(``</think>`` id, newline id) of a Qwen3-style tokenizer, with a clear error otherwise."""
    end = tokenizer.convert_tokens_to_ids("</think>")
    if end is None or end == tokenizer.unk_token_id or tokenizer.decode([end]) != "</think>":
        raise ValueError("the reasoner's tokenizer has no </think> token: a thinking budget needs a "
                         "Qwen3-style thinking model (or run with --thinking off)")
    newline = tokenizer.encode("\n", add_special_tokens=False)
    if len(newline) != 1:
        raise ValueError(f"the reasoner's tokenizer encodes a newline as {len(newline)} tokens; expected one")
    return int(end), int(newline[0])
