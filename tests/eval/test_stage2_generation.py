"""Stage-2 generation under the paper's protocol, through real ``model.generate`` calls.

A batch's rows have prompts of different lengths (left padding): the forced newline and
``</think>`` land at every row's own steps budget-1 and budget, no blocked id is ever generated
(the answer after ``</think>`` included), and a batched greedy run equals batch-1 runs row by row.
Also on Qwen3's real vocabulary, with a tiny random model over its 151,669 ids.
"""
import pytest
import torch

from llava.eval.reasoning import ReasoningConfig, build_processor_factory, resolve_blocked
from llava.eval.text_generation import SamplingSettings, chat_prompt, generate_batches
from llava.eval.thinking_budget import special_ids

QUESTIONS = ["what is the colour of the " + "big red circle " * n + "?" for n in range(8)]


def _prompts(tokenizer, questions=QUESTIONS):
    return {str(i): chat_prompt(tokenizer, q, enable_thinking=True) for i, q in enumerate(questions)}


def _run(model, tokenizer, prompts, sampling, batch_size, processors, seed=0):
    return {g.key: g.token_ids for b in generate_batches(model, tokenizer, prompts, sampling, batch_size,
                                                        seed=seed, processors=processors) for g in b}


def test_batched_greedy_equals_one_by_one_under_the_paper_protocol(reasoner_fp32):
    model, tokenizer = reasoner_fp32
    cfg = ReasoningConfig(reasoner="tiny", budget=10)
    end, nl = special_ids(tokenizer)
    blocked = set(resolve_blocked(tokenizer, cfg).ids)
    factory = build_processor_factory(tokenizer, cfg)
    greedy = SamplingSettings(do_sample=False, max_new_tokens=24)
    prompts = _prompts(tokenizer)
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts.values()}) == 8   # all lengths differ
    batched = _run(model, tokenizer, prompts, greedy, 8, factory)
    assert batched == _run(model, tokenizer, prompts, greedy, 1, factory)
    for ids in batched.values():
        assert ids[8] == nl and ids[9] == end          # steps 9 and 10, even after an own </think>
        assert not blocked & set(ids)                 # nothing blocked, answer included


@pytest.mark.parametrize("seed", [0, 1])
def test_sampled_rows_respect_budget_and_blocking(reasoner_fp32, seed):
    model, tokenizer = reasoner_fp32
    cfg = ReasoningConfig(reasoner="tiny", budget=12)
    end, nl = special_ids(tokenizer)
    blocked = set(resolve_blocked(tokenizer, cfg).ids)
    sampling = SamplingSettings(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=30)
    out = _run(model, tokenizer, _prompts(tokenizer), sampling, 8, build_processor_factory(tokenizer, cfg), seed)
    assert len(out) == 8
    for key, ids in out.items():
        assert len(ids) < 11 or (ids[10] == nl and ids[11] == end), key
        assert not blocked & set(ids), key


def test_without_the_processor_the_same_run_breaks_both_rules(reasoner_fp32):
    """The control: the tiny model does write reflexive tokens and does not close on its own."""
    model, tokenizer = reasoner_fp32
    blocked = set(resolve_blocked(tokenizer, ReasoningConfig(reasoner="tiny")).ids)
    end, _ = special_ids(tokenizer)
    sampling = SamplingSettings(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=12)
    hits = closed = 0
    for seed in range(4):
        for ids in _run(model, tokenizer, _prompts(tokenizer), sampling, 8, None, seed).values():
            hits += bool(blocked & set(ids))
            closed += len(ids) >= 12 and ids[11] == end
    assert hits > 0 and closed < 32


class Attract:
    """Makes the given ids the most likely tokens (a model that wants to say "Wait")."""

    def __init__(self, ids):
        self.ids = list(ids)

    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[:, self.ids] += 1000.0
        return scores


@pytest.fixture(scope="module")
def qwen3_vocab_model(qwen3_tokenizer):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = qwen3_tokenizer
    tok.padding_side = "left"
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8, tie_word_embeddings=True,
                      eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(cfg).eval()
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    return model, tok


def test_rules_fire_at_the_right_steps_on_qwen3s_vocabulary(qwen3_vocab_model):
    model, tok = qwen3_vocab_model
    cfg = ReasoningConfig(reasoner="tiny-qwen3-vocab", budget=6)
    assert special_ids(tok) == (151668, 198)
    chosen = resolve_blocked(tok, cfg)
    assert chosen.source == "paper-list" and len(chosen.ids) == 189
    wait, check = 13824, 15934                      # " Wait" and "-check", both on the authors' list
    factory = build_processor_factory(tok, cfg, chosen)
    prompts = _prompts(tok, ["Is it red?", "Which of the four shapes in the picture is the largest one?",
                             "Count."])
    greedy = SamplingSettings(do_sample=False, max_new_tokens=10)
    with_rules = lambda n: [Attract([wait, check])] + factory(n)   # noqa: E731
    batched = _run(model, tok, prompts, greedy, 3, with_rules)
    assert batched == _run(model, tok, prompts, greedy, 1, with_rules)
    for ids in batched.values():
        assert ids[4] == 198 and ids[5] == 151668     # t = 5 = budget-1, t = 6 = budget
        assert not set(chosen.ids) & set(ids)
    control = _run(model, tok, prompts, greedy, 3, lambda n: [Attract([wait, check])])
    assert all(set(ids) <= {wait, check} for ids in control.values())
