"""The thinking budget and reflexive-token blocking, per sequence in a batch."""
import pytest
import torch

from llava.eval.reasoning import ReasoningConfig, build_processor_factory
from llava.eval.text_generation import SamplingSettings, chat_prompt, generate_batches
from llava.eval.thinking_budget import (REFLEXIVE_WORDS, ThinkingBudgetProcessor, reflexive_token_ids,
                                        special_ids)
from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

END, NL, PAD = 1049, 198, 1024


@pytest.fixture(scope="module")
def tok():
    return build_tiny_qwen3_tokenizer()


def test_blocked_set_matches_words_exactly(tok):
    ids = reflexive_token_ids(tok)
    texts = {tok.decode([i]) for i in ids}
    vocab_texts = {tok.decode([i]) for i in range(len(tok))}
    # Every variant of a word that the vocabulary has is blocked ...
    for variant in ("wait", " wait", "Wait", " hmm", "Hmm", " however", " but", "But", " maybe"):
        if variant in vocab_texts:
            assert variant in texts, variant
    # ... and nothing else: each blocked token is one of the words, and near-misses are kept.
    assert all(t.lstrip(" ").lower() in REFLEXIVE_WORDS for t in texts)
    for near_miss in ("waiter", " waiter", " waiting", " butter"):
        if near_miss in vocab_texts:
            assert near_miss not in texts
    assert " waiter" in vocab_texts or "waiter" in vocab_texts  # the tiny vocab really has it
    # Independent re-derivation straight from the BPE vocabulary (Ġ = leading space).
    expected = sorted(i for tokstr, i in tok.get_vocab().items()
                      if tokstr.lstrip("Ġ").lower() in REFLEXIVE_WORDS)
    assert sorted(ids) == expected


def test_explicit_words_and_uppercase(tok):
    ids = reflexive_token_ids(tok, ["WAITER"])
    assert ids and all(tok.decode([i]).strip().lower() == "waiter" for i in ids)
    assert reflexive_token_ids(tok, []) == []


def test_special_ids(tok):
    assert special_ids(tok) == (END, NL)


def _scores(batch, vocab=1050, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, vocab, generator=g) * 3


def test_processor_rows_are_independent():
    """Left-padded batch of 4 rows sharing the generation start column 5, budget 6."""
    proc = ThinkingBudgetProcessor(END, NL, budget=6, blocked_ids=[7, 8], prompt_lengths=5)
    prompt = [[PAD, PAD, 11, 12, 13], [PAD, 21, 22, 23, 24], [31, 32, 33, 34, 35], [PAD, PAD, PAD, 41, 42]]
    generated = [[50, 51, 52, 53], [50, 51, 52, 53], [50, END, 52, 53], [50, 51, 52, 53]]
    ids = torch.tensor([p + g for p, g in zip(prompt, generated)])   # t = 5 for every open row
    scores = _scores(4)
    out = proc(ids, scores)
    low = torch.finfo(out.dtype).min
    for row in (0, 1, 3):  # still thinking, token 5 of 6 = budget-1 -> only the newline allowed
        assert (out[row] > low).nonzero().flatten().tolist() == [NL]
    assert torch.equal(out[2], scores[2])  # closed its thinking -> untouched (no blocking either)
    ids6 = torch.cat([ids, torch.tensor([[NL], [NL], [60], [NL]])], dim=1)
    out6 = proc(ids6, _scores(4))
    assert [int(out6[r].argmax()) for r in (0, 1, 3)] == [END] * 3


def test_processor_per_row_starts_and_blocking():
    """Rows with their own generation starts (e.g. right-padded or vLLM-like layouts)."""
    proc = ThinkingBudgetProcessor(END, NL, budget=10, blocked_ids=[7, 8], prompt_lengths=[2, 6])
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 9, 9], [1, 2, 3, 4, 5, 6, 9, 9]])
    thinking, t = proc.thinking_state(ids)
    assert thinking.tolist() == [True, True] and t.tolist() == [7, 3]
    out = proc(ids, _scores(2))
    low = torch.finfo(out.dtype).min
    assert (out[:, [7, 8]] == low).all()                # blocked while thinking
    assert (out[:, 9:] > low).all()                     # nothing else touched (no force yet)
    ids2 = torch.tensor([[1, 2, 3, 4, 5, 6, 9, 9, 9, 9], [1, 2, 3, 4, 5, 6, 9, END, 9, 9]])
    out2 = proc(ids2, torch.zeros(2, 1050))
    assert (out2[0] > low).nonzero().flatten().tolist() == [NL]   # row 0: t = 9 = budget - 1
    assert (out2[1] == 0).all()                         # row 1 closed -> no blocking any more


def test_boost_after_95_percent():
    proc = ThinkingBudgetProcessor(END, NL, budget=100, prompt_lengths=1)
    ids = torch.zeros(2, 1 + 96, dtype=torch.long) + 5   # t = 97 (> 95), not yet forced
    scores = torch.zeros(2, 1050)
    scores[0, END], scores[0, NL] = 2.0, 1.0
    scores[1, END], scores[1, NL] = -2.0, -1.0
    out = proc(ids, scores.clone())
    assert out[0, END] == pytest.approx(2.0 * 1.97) and out[0, NL] == pytest.approx(1.0 * 1.97)
    assert out[1, END] == pytest.approx(-2.0 + 2.0 * 0.97) and out[1, NL] == pytest.approx(-1.0 + 0.97)
    assert torch.equal(out[:, 5], scores[:, 5])
    early = proc(torch.zeros(2, 1 + 90, dtype=torch.long), scores.clone())  # t = 91: no boost
    assert torch.equal(early, scores)


def test_budget_below_two_rejected():
    with pytest.raises(ValueError, match=">= 2"):
        ThinkingBudgetProcessor(END, NL, budget=1)
    with pytest.raises(ValueError, match="blocked set"):
        ThinkingBudgetProcessor(END, NL, budget=8, blocked_ids=[NL])


QUESTIONS = ["what is the colour of the " + "big red circle " * n + "?" for n in range(8)]


def _thinking_prompts(tokenizer):
    return {str(i): chat_prompt(tokenizer, q, enable_thinking=True) for i, q in enumerate(QUESTIONS)}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batch_of_8_respects_budget_and_blocking(reasoner_fp32, seed):
    model, tokenizer = reasoner_fp32
    budget = 12
    cfg = ReasoningConfig(reasoner="tiny", thinking=True, budget=budget)
    factory, blocked = build_processor_factory(tokenizer, cfg)
    assert len(blocked) > 20
    sampling = SamplingSettings(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=30)
    prompts = _thinking_prompts(tokenizer)
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts.values()}) == 8  # all lengths differ
    gens = [g for b in generate_batches(model, tokenizer, prompts, sampling, 8, seed=seed,
                                        processors=factory) for g in b]
    assert len(gens) == 8
    blocked = set(blocked)
    for g in gens:
        ids = g.token_ids
        assert END in ids[:budget], f"row {g.key}: no </think> in the first {budget} tokens"
        thinking = ids[:ids.index(END)]
        assert not blocked & set(thinking), f"row {g.key}: blocked token while thinking"


def test_without_processor_the_same_run_violates_both(reasoner_fp32):
    """The control: the tiny model does emit reflexive tokens and does not close by itself."""
    model, tokenizer = reasoner_fp32
    blocked = set(reflexive_token_ids(tokenizer))
    sampling = SamplingSettings(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=12)
    hits, closed = 0, 0
    for seed in range(4):
        for b in generate_batches(model, tokenizer, _thinking_prompts(tokenizer), sampling, 8, seed=seed):
            for g in b:
                hits += bool(blocked & set(g.token_ids))
                closed += END in g.token_ids
    assert hits > 0 and closed < 32


def test_batched_greedy_with_budget_equals_one_by_one(reasoner_fp32):
    """Per-row budget under left padding: batch-of-8 greedy == batch-of-1 greedy, token for token."""
    model, tokenizer = reasoner_fp32
    cfg = ReasoningConfig(reasoner="tiny", thinking=True, budget=10)
    factory, _ = build_processor_factory(tokenizer, cfg)
    greedy = SamplingSettings(do_sample=False, max_new_tokens=20)
    prompts = _thinking_prompts(tokenizer)
    batched = {g.key: g.token_ids for b in generate_batches(model, tokenizer, prompts, greedy, 8,
                                                           processors=factory) for g in b}
    single = {g.key: g.token_ids for b in generate_batches(model, tokenizer, prompts, greedy, 1,
                                                          processors=factory) for g in b}
    assert batched == single
    assert all(ids[9] == END and ids[8] == NL for ids in single.values() if END not in ids[:8])
