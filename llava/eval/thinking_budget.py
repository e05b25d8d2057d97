"""Thinking budget and reflexive-token blocking, applied to every row of a batch on its own.

The paper's rules (docs/evaluation.md, "Thinking budget"), for a row whose next token is its
``t``-th generated token (t = 1 first), budget ``B``:

- while ``t <= B`` (only the forced ``</think>`` at ``t == B`` ends this; a ``</think>`` the model
  writes itself does not): if ``t/B > 0.95`` the newline and ``</think>`` logits both become
  ``logit(</think>) * (1 + t/B)``; at ``t == B-1`` only the newline may follow; at ``t == B`` only
  ``</think>``;
- the blocked ids get -inf at every step, the answer after ``</think>`` included (applied after
  the budget edits).

The authors' processor keeps one counter and edits row 0, so it is right at batch size 1 only;
here every row reads its own ``t`` from ``input_ids``, so a batched greedy run equals batch-1 runs
row by row. The project's earlier variants are options (``ProtocolRules``): budget rules and
blocking end at a row's first ``</think>`` (written or forced), and the boost raises each of the
two logits from its own value (``x + |x| * t/B``, which never lowers a negative logit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

BOOSTS = ("think-end-logit", "own-logit")
BUDGET_ENDS = ("forced", "think-end")


@dataclass(frozen=True)
class ProtocolRules:
    """How the processor treats a row: the paper's rules by default."""
    block_after_think: bool = True          # keep blocking after the row's </think>
    boost: str = "think-end-logit"          # or "own-logit"
    budget_ends_at: str = "forced"          # or "think-end": the row's first </think> ends the budget

    def __post_init__(self):
        if self.boost not in BOOSTS:
            raise ValueError(f"unknown boost {self.boost!r}; choose one of {list(BOOSTS)}")
        if self.budget_ends_at not in BUDGET_ENDS:
            raise ValueError(f"unknown budget end {self.budget_ends_at!r}; choose one of {list(BUDGET_ENDS)}")


class ThinkingBudgetProcessor:
    """A ``transformers`` logits processor; stateless (everything is read from ``input_ids``).

    ``prompt_lengths`` gives each row's generation start column (an int for left-padded batches,
    whose rows all start at the padded prompt length).
    """

    def __init__(self, think_end_id: int, newline_id: int, budget: int | None = None,
                 blocked_ids: Sequence[int] = (), prompt_lengths: Sequence[int] | int | None = None,
                 rules: ProtocolRules = ProtocolRules()):
        if budget is not None and budget < 2:
            raise ValueError(f"thinking budget must be >= 2 tokens (newline + </think>), got {budget}")
        blocked = sorted({int(i) for i in blocked_ids})
        if int(think_end_id) in blocked or int(newline_id) in blocked:
            raise ValueError("</think> or the newline token is in the blocked set; the budget could not be enforced")
        self.think_end_id = int(think_end_id)
        self.newline_id = int(newline_id)
        self.budget = budget
        self.blocked_ids = torch.tensor(blocked, dtype=torch.long)
        self.prompt_lengths = prompt_lengths
        self.rules = rules

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

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        starts = self._starts(input_ids)
        t = input_ids.shape[1] - starts + 1     # [B]: 1-based index of the token about to be generated
        # Whether a row has generated </think> matters only to the non-default rules; the paper's
        # rules never ask, so the default skips the scan of the generated tokens at every step.
        closed = None
        if self.rules.budget_ends_at == "think-end" or not self.rules.block_after_think:
            generated = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0) >= starts.unsqueeze(1)
            closed = ((input_ids == self.think_end_id) & generated).any(dim=1)
        scores = scores.clone()
        if self.budget is not None:
            in_budget = ~closed if self.rules.budget_ends_at == "think-end" else t <= self.budget
            self._budget_rules(scores, t, in_budget.nonzero(as_tuple=True)[0])
        if self.blocked_ids.numel():
            blocked = self.blocked_ids.to(scores.device)
            blocked = blocked[blocked < scores.shape[1]]
            if self.rules.block_after_think:
                scores[:, blocked] = float("-inf")
            else:
                rows = (~closed).nonzero(as_tuple=True)[0]
                if rows.numel():
                    scores[rows.unsqueeze(1), blocked.unsqueeze(0)] = float("-inf")
        return scores

    def _budget_rules(self, scores: torch.Tensor, t: torch.Tensor, rows: torch.Tensor) -> None:
        if not rows.numel():
            return
        ratio = t[rows].double() / self.budget      # float64, as Python computes t / budget
        boost = rows[ratio > 0.95]
        if boost.numel():
            factor = 1 + ratio[ratio > 0.95]
            end, nl = self.think_end_id, self.newline_id
            if self.rules.boost == "think-end-logit":
                # Both take </think>'s logit times the factor (float32 math, as tensor * float).
                value = (scores[boost, end].float() * factor.float()).to(scores.dtype)
                scores[boost, nl] = value
                scores[boost, end] = value
            else:
                for tok in (end, nl):
                    x = scores[boost, tok]
                    raised = x + x.abs() * (factor - 1).to(scores.dtype)
                    scores[boost, tok] = torch.where(torch.isfinite(x), raised, x)
        at = t[rows]
        for force, tok in ((rows[at == self.budget - 1], self.newline_id),
                           (rows[at >= self.budget], self.think_end_id)):
            if force.numel():
                scores[force] = float("-inf")
                scores[force, tok] = 0.0

    def for_prompt_length(self, prompt_length: int) -> "ThinkingBudgetProcessor":
        """A copy bound to one ``generate`` call whose (left-padded) prompts are this long."""
        return ThinkingBudgetProcessor(self.think_end_id, self.newline_id, self.budget,
                                       self.blocked_ids.tolist(), prompt_length, self.rules)


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
