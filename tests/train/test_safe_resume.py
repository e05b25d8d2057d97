"""Resuming from a checkpoint-N/ whose pickles were crafted: refused in one line unless trusted.

Single-process runs of the real entry point (no DeepSpeed; the Trainer's own optimizer.pt,
scheduler.pt and rng_state.pth); the 2-process ZeRO-3 resume from a crafted DeepSpeed shard is in
test_zero3_stages.py.
"""
from __future__ import annotations

import contextlib
import shutil

import pytest
import torch

from llava.train.train import main
from llava.utils.safe_unpickle import UnsafeLoaderError, UntrustedCheckpointError
from tests.hostile import write_payload


@pytest.fixture(scope="module")
def assets(tmp_path_factory, copy_tiny_assets):
    return copy_tiny_assets(tmp_path_factory.mktemp("assets") / "tiny")


def _args(assets, out, *extra):
    return ["--model_name_or_path", str(assets.checkpoint), "--data_path", str(assets.data_extract),
            "--output_dir", str(out), "--report_to", "none", "--per_device_train_batch_size", "1",
            "--save_steps", "1", "--logging_steps", "1", "--learning_rate", "1e-4", "--seed", "3", *extra]


@pytest.fixture(scope="module")
def first_step(assets, tmp_path_factory):
    """A 2-step run that saved after each step: its checkpoint-1 is what the tests resume from."""
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(_args(assets, out, "--max_steps", "2")) == 0
    assert {"optimizer.pt", "scheduler.pt", "rng_state.pth"} <= {p.name for p in (out / "checkpoint-1").iterdir()}
    return out


def _poisoned(first_step, tmp_path, name, marker):
    out = tmp_path / "out"
    shutil.copytree(first_step / "checkpoint-1", out / "checkpoint-1")
    write_payload(out / "checkpoint-1" / name, marker, "shell")
    return out


@pytest.mark.parametrize("name", ["optimizer.pt", "scheduler.pt", "rng_state.pth"])
def test_crafted_trainer_state_file_is_refused(assets, first_step, tmp_path, name):
    marker = tmp_path / "marker"
    out = _poisoned(first_step, tmp_path, name, marker)
    with pytest.raises(UntrustedCheckpointError) as err:
        main(_args(assets, out, "--max_steps", "2", "--resume_from_checkpoint", "auto"))
    message = str(err.value)
    assert "\n" not in message and str(out / "checkpoint-1" / name) in message
    assert "--trust_checkpoint True" in message and "TRUST_CHECKPOINT=1" in message
    assert not marker.exists()


def test_real_checkpoint_resumes_and_matches_the_uninterrupted_run(assets, first_step, tmp_path):
    from safetensors.torch import load_file

    from tests.train.zero3_runs import losses

    straight = first_step
    resumed = tmp_path / "resumed"
    shutil.copytree(first_step / "checkpoint-1", resumed / "checkpoint-1")
    assert main(_args(assets, resumed, "--max_steps", "2", "--resume_from_checkpoint", "auto")) == 0
    assert losses(resumed)[2] == losses(straight)[2]
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_consent_lifts_the_restriction(assets, first_step, tmp_path):
    """The refusals above are what keep the payload from running: with consent it runs (the flag
    means "unpickle this checkpoint as it is", the Trainer's own weights-only loads included)."""
    marker = tmp_path / "marker"
    out = _poisoned(first_step, tmp_path, "scheduler.pt", marker)
    with contextlib.suppress(Exception):  # the payload is not a scheduler state: resuming fails after it ran
        main(_args(assets, out, "--max_steps", "2", "--resume_from_checkpoint", "auto", "--trust_checkpoint",
                   "True"))
    assert marker.exists()


def test_resume_refuses_when_the_hooked_trainer_method_is_gone(assets, first_step, tmp_path, monkeypatch):
    """A transformers release without the hooked method would load unrestricted: stop instead."""
    from transformers import Trainer

    monkeypatch.delattr(Trainer, "_load_rng_state")
    out = tmp_path / "out"
    shutil.copytree(first_step / "checkpoint-1", out / "checkpoint-1")
    with pytest.raises(UnsafeLoaderError, match="Trainer has no _load_rng_state.*--trust_checkpoint True"):
        main(_args(assets, out, "--max_steps", "2", "--resume_from_checkpoint", "auto"))
