"""The embedded demo learns: a `scripts/demo.sh` run, end to end, must clear floors.

This is the test that fails when training silently stops learning (labels masked, image tokens
misaligned, a part frozen, weights not saved under ZeRO-3, a reasoner that never reads the
description): every stage runs through the real entry points (llava-datagen, scripts/zero3 with
DeepSpeed ZeRO-3 on 2 CPU ranks, llava-train --text_only, llava-eval), and the floors are checked on
held-out questions.

It runs the demo with shorter perception stages than the README's default (caption 500 and
extraction 400 steps instead of 650 and 900, to keep CI within its time limit; `CI_SETTINGS`);
the floors sit below the measured run of that variant with margin for machine-to-machine variation.
`DEMO_TRAIN_ARGS` (extra llava-train arguments for every training stage) lets one break training on
purpose, e.g. `DEMO_TRAIN_ARGS="--learning_rate 0 --mm_vision_tower_lr 0"`, and watch this test fail.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The shorter CI variant of the demo (the README's default runs 650 + 900 perception steps), to keep
# CI within its time limit. With the 3-layer perception LLM the caption stage has learned the shapes
# by step ~400 (seed 2: caption loss 0.048 at 400, 0.032 at 500). The extraction stage's answering
# statements are only starting at 400 steps (19% exact; 31% at 600, where Extract+Think was the same
# 37%, so the extra 70 s are not spent). The reasoner runs the default 700 steps: its yes/no
# verdicts are learned in a sudden drop of the loss whose timing differs between machines (steps
# ~320-420 on one 2-core machine (2026-12-04), ~460-600 on another (2026-12-05), where 600 steps left it
# half done; docs/demo_research.md).
CI_SETTINGS = {"CAPTION_STEPS": "500", "EXTRACT_STEPS": "400"}
DEMO_SEED = "2"  # scripts/demo.sh's default seed

# Floors set below the measured run of the CI variant (seed 2, 2026-12-06, 2-core CPU; docs/demo.md): generic
# descriptions 99% of objects right, extractions 98%, answering statements exact in 17%, Extract+Think 35%, the
# reasoner on ground-truth extractions 99%, its loss falling ~25,600x (means below). With the learning
# rate at 0 every one of them is 0 or far off (no letters, no descriptions, no statements, loss
# flat); Extract+Think's floor is above chance (25%). The reasoner's loss-drop floor only says it
# learned (the learning rate at 0 gives 1x); whether it learned its verdicts is the ground-truth
# floor's job.
FLOOR_CAPTION_OBJECTS = 0.75     # generic descriptions: objects with colour, shape and position right
FLOOR_EXTRACTION_OBJECTS = 0.75  # the same inside question-specific extractions
FLOOR_STATEMENTS = 0.10          # extractions with the exact answering statement (untrained 0%)
FLOOR_EXTRACT_THINK = 0.30       # Extract+Think overall (chance 25%; untrained 0%: no answer letter)
FLOOR_ORACLE_THINK = 0.60        # the reasoner alone, on ground-truth extractions, overall
FLOOR_REASONER_LOSS_DROP = 100.0  # mean of the first 5 / of the last 20 logged reasoner losses
FLOOR_BASELINE_LETTERS = 0.95    # end-to-end baseline: answers that are an option letter (untrained: none)
FLOOR_BASELINE_LOSS_DROP = 5.0   # its loss: mean of the first 5 / of the last 20 logged losses


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, DEMO_DIR=str(out), SKIP_INSTALL="1", PYTHON=sys.executable, SEED=DEMO_SEED,
               WANDB_MODE="offline", **CI_SETTINGS)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")], env=env, cwd=out,
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"scripts/demo.sh failed (exit {proc.returncode}):\n{log[-4000:]}"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return out, results, log


@pytest.mark.slow
def test_demo_perception_learns_the_scenes(demo_run):
    _, results, log = demo_run
    captions, extractions = results["captions"]["objects"], results["extractions"]["objects"]
    assert captions >= FLOOR_CAPTION_OBJECTS, f"generic descriptions: {captions:.0%} of objects right\n{log[-3000:]}"
    assert extractions >= FLOOR_EXTRACTION_OBJECTS, f"extractions: {extractions:.0%} of objects right"


@pytest.mark.slow
def test_demo_reasoner_answers_from_ground_truth_extractions(demo_run):
    _, results, log = demo_run
    oracle = results["systems"]["reasoner on ground-truth extractions"]
    assert oracle["overall"] >= FLOOR_ORACLE_THINK, f"reasoner on ground truth {oracle['overall']:.0%}\n{log[-3000:]}"
    # Every system was scored on the whole held-out benchmark.
    assert {s["questions"] for s in results["systems"].values()} == {7 * 20}


@pytest.mark.slow
def test_demo_extraction_answers_the_question(demo_run):
    _, results, log = demo_run
    statements = results["statements"]["overall"]
    assert statements >= FLOOR_STATEMENTS, f"answering statement exact in {statements:.0%} of extractions\n{log[-3000:]}"
    extract = results["systems"]["Extract+Think"]["overall"]
    assert extract >= FLOOR_EXTRACT_THINK, f"Extract+Think {extract:.0%}\n{log[-3000:]}"


@pytest.mark.slow
def test_demo_end_to_end_baseline_was_trained(demo_run):
    """The end-to-end baseline is trained, not a placeholder. In this world the tiny model answers the
    held-out questions at about chance all the same (with 3x the steps too; docs/demo.md), so the
    floors are on its training: it answers every question with an option letter (the caption
    checkpoint it starts from writes descriptions), its loss fell, and its language model moved."""
    import torch
    from safetensors.torch import load_file

    out, results, log = demo_run
    (outputs,) = [p for p in (out / "eval" / "end_to_end").rglob("end-to-end-*.jsonl") if "lmms" not in p.name]
    answers = [json.loads(line)["output"].strip() for line in outputs.read_text().splitlines()]
    letters = sum(a in ("A", "B", "C", "D") for a in answers) / len(answers)
    assert letters >= FLOOR_BASELINE_LETTERS, f"end-to-end baseline answered a letter in {letters:.0%}\n{log[-3000:]}"
    losses = [float(x) for x in _logged_losses((out / "log_end_to_end.txt").read_text(encoding="utf-8"))]
    first, last = sum(losses[:5]) / 5, sum(losses[-20:]) / 20
    assert first / max(last, 1e-8) >= FLOOR_BASELINE_LOSS_DROP, f"end-to-end baseline loss {first:.4g} -> {last:.4g}"
    start = load_file(str(out / "runs" / "caption" / "model.safetensors"))
    trained = load_file(str(out / "runs" / "end_to_end" / "model.safetensors"))
    names = [k for k in start if "model.layers." in k]
    moved = sum(not torch.equal(start[k], trained[k]) for k in names)
    assert moved >= 0.8 * len(names), f"end-to-end baseline: {moved} of {len(names)} LLM tensors changed"
    assert results["systems"]["end-to-end baseline"]["questions"] == 7 * 20


@pytest.mark.slow
def test_demo_reasoner_loss_falls(demo_run):
    out, _, _ = demo_run
    losses = [float(x) for x in _logged_losses((out / "log_reasoner.txt").read_text(encoding="utf-8"))]
    assert len(losses) >= 25, f"the reasoner logged {len(losses)} losses, expected one per step"
    # Means of the first 5 and the last 20 logged losses: one logged loss is one batch's.
    first, last = sum(losses[:5]) / 5, sum(losses[-20:]) / 20
    assert first / max(last, 1e-8) >= FLOOR_REASONER_LOSS_DROP, f"reasoner loss {first:.4g} -> {last:.4g}"


@pytest.mark.slow
def test_demo_training_moved_every_part(demo_run):
    """Caption and extraction training changed the vision tower, the projector and the LLM: the
    saved extraction model differs from the S0 checkpoint (where the tower and LLM are still the
    random start) in most tensors of each part. Catches a frozen part (the tiny LLM can learn around
    a frozen random tower and projector, so the accuracy floors alone would not) and weights not
    saved under ZeRO-3."""
    import torch
    from safetensors.torch import load_file

    out, _, _ = demo_run
    start = load_file(str(out / "runs" / "projector" / "model.safetensors"))
    trained = load_file(str(out / "runs" / "extract" / "model.safetensors"))
    assert start.keys() == trained.keys()
    parts = {"vision tower": "vision_tower.", "projector": "mm_projector.", "llm": "model.layers."}
    for part, key in parts.items():
        names = [k for k in start if key in k]
        moved = sum(not torch.equal(start[k], trained[k]) for k in names)
        # Not all: the tower's post-layernorm feeds nothing (features are the last kept layer's output).
        assert names and moved >= 0.8 * len(names), f"{part}: {moved} of {len(names)} tensors changed"


def _logged_losses(text: str) -> list[str]:
    import re

    return re.findall(r"'loss': '([0-9.e-]+)'", text)
