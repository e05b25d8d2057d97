"""Stage-2 sampling settings: the authors' generate() arguments, derived the same way by
``llava-eval`` and the lmms-eval ``qwen3`` model."""
from __future__ import annotations

import pytest

from llava.eval.cli import build_parser, reasoning_config
from llava.eval.reasoning import DEFAULT_BUDGET, paper_sampling


def _fields(s):
    return (s.do_sample, s.temperature, s.top_p, s.max_new_tokens)


def test_paper_sampling_by_mode_budget_and_greedy():
    assert _fields(paper_sampling(True)) == (None, 0.6, 0.95, DEFAULT_BUDGET + 1024)
    assert _fields(paper_sampling(True, "on", budget=256)) == (True, 0.6, 0.95, 256 + 1024)
    assert _fields(paper_sampling(True, budget=None)) == (None, 0.6, 0.95, DEFAULT_BUDGET + 1024)
    assert _fields(paper_sampling(False, budget=256)) == (None, 0.7, 0.8, 1024)  # no thinking: no budget
    greedy = paper_sampling(True, "on", budget=64, greedy=True)
    assert (greedy.do_sample, greedy.max_new_tokens) == (False, 64 + 1024)
    assert greedy.temperature is None and greedy.top_p is None


def test_cli_and_lmms_model_derive_the_same_settings(tmp_path, tiny_reasoner):
    pytest.importorskip("lmms_eval", reason="lmms-eval is installed by scripts/test.sh (pip install --no-deps)")
    from llava.eval.lmms_plugin.qwen3_reasoner import Qwen3Reasoner

    args = build_parser().parse_args(["reason", "--benchmark", "mmstar", "--data", str(tmp_path),
                                      "--descriptions", str(tmp_path / "d.jsonl"), "--budget", "64", "--greedy"])
    cli = reasoning_config(args).sampling
    plugin = Qwen3Reasoner(pretrained=f"0.6B;{tiny_reasoner};True", budget=64, greedy=True,
                           device_map=None).cfg.sampling
    assert _fields(cli) == _fields(plugin) == (False, None, None, 64 + 1024)
