"""The thinking budget and reflexive-token blocking, applied to every row of a batch on its own.

The reference is a batch-of-one processor written from the paper's rules (docs/evaluation.md): a
counter that starts at 1, the boost of both logits from ``</think>``'s, a forced newline and
``</think>``, blocking at every step. The batched processor must give every row exactly what that
reference gives the row alone.
"""
import pytest
import torch

from llava.eval.thinking_budget import ProtocolRules, ThinkingBudgetProcessor, special_ids
from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

END, NL, PAD = 1049, 198, 1024
VOCAB = 1050
BLOCKED = [7, 8, 300]
IMPROVED = ProtocolRules(block_after_think=False, boost="own-logit", budget_ends_at="think-end")


class OneRowReference:
    """The paper's processor for a single sequence."""

    def __init__(self, budget, blocked):
        self.budget, self.blocked, self.t, self.stopped = budget, blocked, 0, False

    def __call__(self, scores):           # scores: [vocab] for this one row
        scores = scores.clone()
        self.t += 1
        if self.budget is not None and not self.stopped:
            if self.t / self.budget > 0.95:
                value = scores[END] * (1 + self.t / self.budget)
                scores[NL] = value
                scores[END] = value
            if self.t == self.budget - 1:
                scores[:] = float("-inf")
                scores[NL] = 0
            elif self.t >= self.budget:
                scores[:] = float("-inf")
                scores[END] = 0
                self.stopped = True
        scores[self.blocked] = float("-inf")
        return scores


def _random_scores(rows, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, VOCAB, generator=g) * 3


@pytest.mark.parametrize("budget", [60, 8, None])
def test_every_row_gets_what_the_one_row_reference_gives(budget):
    """Rows starting at different columns (prompts of 2, 9 and 5 tokens), followed over 70 steps; row 1
    writes </think> by itself at its step 3, which must not stop the counter (paper)."""
    starts = [2, 9, 5]
    proc = ThinkingBudgetProcessor(END, NL, budget, BLOCKED, prompt_lengths=starts)
    width = max(starts)
    refs = [OneRowReference(budget, BLOCKED) for _ in starts]
    for ref, start in zip(refs, starts):     # rows that started earlier already made width-start steps
        for _ in range(width - start):
            ref(torch.zeros(VOCAB))
    ids = torch.randint(0, 900, (3, width))
    for step in range(70):
        scores = _random_scores(3, step)
        out = proc(ids, scores)
        for row, ref in enumerate(refs):
            assert torch.equal(out[row], ref(scores[row])), (budget, step, row)
        nxt = out.argmax(dim=1)
        if step == 3 - 1:
            nxt[1] = END
        ids = torch.cat([ids, nxt.unsqueeze(1)], dim=1)


def test_forced_steps_and_boost_at_the_right_t():
    """Budget 60, one left-padded batch (all rows start at column 4): boost visible at t=58 only
    (57/60 = 0.95 is not above 0.95), newline forced at t=59, </think> at t=60, nothing at t=61."""
    proc = ThinkingBudgetProcessor(END, NL, 60, BLOCKED, prompt_lengths=4)
    scores = _random_scores(2, 0)
    scores[0, END], scores[1, END] = 2.0, -2.0
    for t, check in [(57, "none"), (58, "boost"), (59, "nl"), (60, "end"), (61, "none")]:
        ids = torch.full((2, 4 + t - 1), 5)
        out = proc(ids, scores)
        if check == "boost":
            factor = torch.tensor(1 + 58 / 60, dtype=torch.float32)
            assert out[0, NL] == out[0, END] == 2.0 * factor and out[1, NL] == out[1, END] == -2.0 * factor
        elif check in ("nl", "end"):
            tok = NL if check == "nl" else END
            assert (out[:, tok] == 0).all() and torch.isinf(out).sum() == 2 * (VOCAB - 1)
        else:
            keep = [i for i in range(VOCAB) if i not in BLOCKED]
            assert torch.equal(out[:, keep], scores[:, keep])
        assert torch.isinf(out[:, BLOCKED]).all() and (out[:, BLOCKED] < 0).all()


def test_improved_rules_stop_at_the_rows_own_think_end():
    proc = ThinkingBudgetProcessor(END, NL, 10, BLOCKED, prompt_lengths=[2, 2], rules=IMPROVED)
    ids = torch.tensor([[1, 2, 9, 9, 9, 9, 9, 9, 9, 9], [1, 2, 9, END, 9, 9, 9, 9, 9, 9]])  # t = 9
    out = proc(ids, torch.zeros(2, VOCAB))
    assert (out[0] > float("-inf")).nonzero().flatten().tolist() == [NL]    # row 0: budget-1 -> newline
    assert (out[1] == 0).all()                          # row 1 closed: no forcing, no blocking
    paper = ThinkingBudgetProcessor(END, NL, 10, BLOCKED, prompt_lengths=[2, 2])(ids, torch.zeros(2, VOCAB))
    assert (paper[1] > float("-inf")).nonzero().flatten().tolist() == [NL]  # paper: the counter goes on
    # own-logit boost: x -> x + |x| * t/B (t = 97 of 100)
    boost = ThinkingBudgetProcessor(END, NL, 100, prompt_lengths=1, rules=IMPROVED)
    scores = torch.zeros(1, VOCAB)
    scores[0, END], scores[0, NL] = -2.0, 1.0
    out = boost(torch.zeros(1, 97, dtype=torch.long), scores)
    assert out[0, END].item() == pytest.approx(-2.0 + 2.0 * 0.97) and out[0, NL].item() == pytest.approx(1.97)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match=">= 2"):
        ThinkingBudgetProcessor(END, NL, budget=1)
    with pytest.raises(ValueError, match="blocked set"):
        ThinkingBudgetProcessor(END, NL, budget=8, blocked_ids=[NL])
    with pytest.raises(ValueError, match="unknown boost"):
        ProtocolRules(boost="double")


def test_special_ids():
    assert special_ids(build_tiny_qwen3_tokenizer()) == (END, NL)
