"""Stage 0 and stage 2 through EvalRun: prompts, caching, resume after an interruption."""
import json

import pytest

import llava.eval.focus as focus_mod
import llava.eval.reasoning as reasoning_mod
from llava.eval.benchmarks import load_benchmark
from llava.eval.pipeline import EvalRun
from llava.eval.reasoning import ReasoningConfig
from llava.eval.text_generation import SamplingSettings, chat_prompt
from llava.prompts import PromptSet, parse_focus


class Killed(Exception):
    """Stands in for the job being killed after a batch was written."""


REAL = {focus_mod: focus_mod.generate_batches, reasoning_mod: reasoning_mod.generate_batches}


def _spy(monkeypatch, module, seen, stop_after=None):
    real = REAL[module]

    def spy(model, tokenizer, prompts, *args, **kwargs):
        seen.append(dict(prompts))
        for n, batch in enumerate(real(model, tokenizer, prompts, *args, **kwargs)):
            yield batch
            if stop_after is not None and n + 1 >= stop_after:
                raise Killed
    monkeypatch.setattr(module, "generate_batches", spy)


def test_focus_stage_prompt_parse_and_cache(tmp_path, mc_benchmark, tiny_reasoner, monkeypatch):
    bench = load_benchmark("jsonl", str(mc_benchmark))
    run = EvalRun(bench, tmp_path, PromptSet())
    seen = []
    _spy(monkeypatch, focus_mod, seen)
    focus, label = run.focus(focus_model=str(tiny_reasoner), batch_size=4, dtype="fp32", device="cpu")
    _, tok = reasoning_mod.load_causal_lm(str(tiny_reasoner), "fp32", "cpu")
    q = bench.questions[4]
    assert seen[0][q.index] == chat_prompt(tok, PromptSet().focus_prompt(q.question), enable_thinking=False)
    art = sorted((tmp_path / "bench" / "focus").glob("*.jsonl"))
    assert len(art) == 1 and label in art[0].name
    rows = [json.loads(l) for l in art[0].read_text().splitlines()]
    assert {r["index"]: r["focus"] for r in rows} == focus
    assert all(r["focus"] == parse_focus(focus_mod.strip_thinking(r["raw"])) for r in rows)
    again, _ = run.focus(focus_model=str(tiny_reasoner))
    assert again == focus and len(seen) == 1       # cached: no second generation


def test_focus_file(tmp_path, mc_benchmark):
    bench = load_benchmark("jsonl", str(mc_benchmark))
    run = EvalRun(bench, tmp_path, PromptSet())
    path = tmp_path / "focus.json"
    path.write_text(json.dumps({q.index: f"focus {q.index}" for q in bench.questions}))
    focus, label = run.focus(focus_file=str(path))
    assert focus["q3"] == "focus q3" and label.startswith("file-focus-")
    path.write_text(json.dumps({"q0": "x"}))
    with pytest.raises(KeyError, match="no entry for 5 question"):
        run.focus(focus_file=str(path))
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        run.focus(focus_file=str(path))


def _cfg(tiny_reasoner, **kw):
    settings = dict(reasoner=str(tiny_reasoner), thinking=True, budget=12, batch_size=2, dtype="fp32",
                    sampling=SamplingSettings(do_sample=False, max_new_tokens=18), device="cpu")
    return ReasoningConfig(**{**settings, **kw})


def test_reasoning_resumes_after_interruption(tmp_path, mc_benchmark, tiny_reasoner, monkeypatch):
    bench = load_benchmark("jsonl", str(mc_benchmark))
    descriptions = {q.index: f"A {['red', 'green', 'blue'][i % 3]} shape." for i, q in enumerate(bench.questions)}
    reference, _ = EvalRun(bench, tmp_path / "ref", PromptSet()).reasoning(descriptions, "d", _cfg(tiny_reasoner))
    assert all(r["thinking_tokens"] is not None and r["thinking_tokens"] <= 12 for r in reference)
    assert reference[0]["prompt"] == chat_prompt(
        reasoning_mod.load_causal_lm(str(tiny_reasoner), "fp32", "cpu")[1],
        PromptSet().reasoning_prompt(descriptions["q0"], bench.questions[0].question, True), enable_thinking=True)

    run = EvalRun(bench, tmp_path / "run", PromptSet())
    seen = []
    _spy(monkeypatch, reasoning_mod, seen, stop_after=1)
    with pytest.raises(Killed):
        run.reasoning(descriptions, "d", _cfg(tiny_reasoner))
    path = next((tmp_path / "run" / "bench" / "reasoning" / "d").glob("*.jsonl"))
    assert len(path.read_text().splitlines()) == 2
    with open(path, "a") as f:
        f.write('{"index": "q5", "output": "half')        # killed in the middle of a write
    _spy(monkeypatch, reasoning_mod, seen)
    resumed, path2 = run.reasoning(descriptions, "d", _cfg(tiny_reasoner))
    assert path2 == path
    assert len(seen[-1]) == 4                              # only the 4 unfinished questions ran
    assert resumed == reference                            # and the result is the uninterrupted one
    assert len(path.read_text().splitlines()) == 6


def test_direct_mode_and_settings_change_give_new_artifacts(tmp_path, mc_benchmark, tiny_reasoner):
    bench = load_benchmark("jsonl", str(mc_benchmark))
    run = EvalRun(bench, tmp_path, PromptSet())
    descriptions = {q.index: "A shape." for q in bench.questions}
    _, p_think = run.reasoning(descriptions, "d", _cfg(tiny_reasoner))
    direct = _cfg(tiny_reasoner, thinking=False)
    recs, p_direct = run.reasoning(descriptions, "d", direct)
    assert p_direct != p_think and "-direct-" in p_direct.name and "-think-b12-" in p_think.name
    assert all(r["thinking_tokens"] is None for r in recs)
    assert "Answer directly" in recs[0]["prompt"] and "<think>\n\n</think>" in recs[0]["prompt"]
    _, p_b8 = run.reasoning(descriptions, "d", _cfg(tiny_reasoner, budget=8))
    assert p_b8 not in (p_think, p_direct)
    with pytest.raises(KeyError, match="no description"):
        run.reasoning({"q0": "x"}, "d", _cfg(tiny_reasoner))


def test_descriptions_from_own_stage1_file(tmp_path, mc_benchmark):
    bench = load_benchmark("jsonl", str(mc_benchmark))
    run = EvalRun(bench, tmp_path, PromptSet())
    path = tmp_path / "perception.jsonl"
    path.write_text("".join(json.dumps({"index": q.index, "description": f"d {q.index}"}) + "\n"
                            for q in bench.questions))
    descriptions, label = run.descriptions_from_file(path)
    assert descriptions["q4"] == "d q4" and label.startswith("file-perception-")
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        run.descriptions_from_file(path)
