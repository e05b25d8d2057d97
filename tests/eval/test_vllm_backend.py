"""The vLLM backend's pure parts: two-phase budget planning and the missing-extra error."""
import importlib.util

import pytest

from llava.eval.reasoning import ReasoningConfig
from llava.eval.reasoning_vllm import after_thinking, import_vllm, sampling_kwargs
from llava.eval.text_generation import SamplingSettings

END, NL, EOS = 1049, 198, 1026
PROMPT = [1, 2, 3]


def test_unfinished_thinking_gets_newline_and_end_forced():
    # budget 8: phase 1 may sample budget-2 = 6 tokens; then "\n" and "</think>" are tokens 7 and 8,
    # exactly where the transformers processor forces them.
    r = after_thinking(PROMPT, [10, 11, 12, 13, 14, 15], hit_length=True, think_end=END, newline=NL,
                       eos_ids={EOS}, max_new_tokens=20)
    assert r.generated == [10, 11, 12, 13, 14, 15, NL, END]
    assert r.continuation == PROMPT + r.generated and r.remaining == 12


def test_closed_thinking_continues_without_forcing():
    r = after_thinking(PROMPT, [10, END], hit_length=False, think_end=END, newline=NL, eos_ids={EOS},
                       max_new_tokens=20)
    assert r.generated == [10, END] and r.continuation == PROMPT + [10, END] and r.remaining == 18


def test_finished_or_exhausted_requests_stop():
    done = after_thinking(PROMPT, [10, EOS], hit_length=False, think_end=END, newline=NL, eos_ids={EOS},
                          max_new_tokens=20)
    assert done.continuation is None and done.generated == [10, EOS]
    full = after_thinking(PROMPT, [10, 11], hit_length=True, think_end=END, newline=NL, eos_ids={EOS},
                          max_new_tokens=4)
    assert full.continuation is None and full.generated == [10, 11, NL, END]


def test_sampling_kwargs():
    cfg = ReasoningConfig(reasoner="x", sampling=SamplingSettings(True, 100, 0.6, 0.95, None), seed=3)
    assert sampling_kwargs(cfg) == {"temperature": 0.6, "top_p": 0.95, "seed": 3}
    cfg.sampling = SamplingSettings(False, 100)
    assert sampling_kwargs(cfg) == {"temperature": 0.0}


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_missing_vllm_is_a_clear_error():
    with pytest.raises(ImportError, match=r"pip install -e '\.\[vllm\]'"):
        import_vllm()
