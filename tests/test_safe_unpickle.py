"""The weights-only restriction on torch.load (llava/utils/safe_unpickle.py), with hostile files."""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from llava.utils import safe_unpickle
from llava.utils.safe_unpickle import (UnsafeLoaderError, UntrustedCheckpointError, check_loaders,
                                       restricted_torch_load)
from tests.hostile import write_payload

CONSENT = "--trust-checkpoint"


@pytest.mark.parametrize("kind, fmt", [("exec", "torch"), ("shell", "torch"), ("exec", "pickle2"),
                                       ("shell", "pickle4"), ("deepspeed-function", "torch")])
def test_hostile_pickle_is_refused_in_one_line_naming_file_and_flag(tmp_path, kind, fmt):
    marker = tmp_path / "marker"
    path = write_payload(tmp_path / "zero_pp_rank_0_mp_rank_00_model_states.pt", marker, kind, fmt)
    with restricted_torch_load(CONSENT), pytest.raises(UntrustedCheckpointError) as err:
        torch.load(path, map_location="cpu", weights_only=False)  # what DeepSpeed asks for
    message = str(err.value)
    assert "\n" not in message and str(path) in message and message.endswith(f"rerun with {CONSENT}")
    if kind == "deepspeed-function":
        assert "deepspeed.utils.zero_to_fp32.convert_zero_checkpoint_to_fp32_state_dict" in message
    assert not marker.exists()


def test_the_payload_runs_when_the_user_trusts_the_file(tmp_path):
    """The refusal above is what keeps the marker away: with consent the same file runs its code."""
    marker = tmp_path / "marker"
    path = write_payload(tmp_path / "f.pt", marker)
    with restricted_torch_load(CONSENT, trust=True) as guard:
        torch.load(path, weights_only=False)
    assert guard.trusted and marker.exists()


def test_objects_that_deepspeed_and_the_trainer_write_are_allowed(tmp_path):
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum

    state = {"optimizer_state_dict": {"zero_stage": ZeroStageEnum.weights, "loss_scaler": LossScaler(1.0),
                                      "dynamic": DynamicLossScaler(2.0**16, 1000, 1.0, 1, False),
                                      "fp32_flat_groups": [torch.arange(4.0)]},
             "rng": {"numpy": np.random.get_state(), "cpu": torch.get_rng_state()}}
    torch.save(state, tmp_path / "state.pt")
    with restricted_torch_load(CONSENT) as guard:
        loaded = torch.load(tmp_path / "state.pt", weights_only=False)
    assert loaded["optimizer_state_dict"]["zero_stage"] is ZeroStageEnum.weights
    assert loaded["optimizer_state_dict"]["loss_scaler"].cur_scale == 1.0
    assert torch.equal(loaded["optimizer_state_dict"]["fp32_flat_groups"][0], torch.arange(4.0))
    assert np.array_equal(loaded["rng"]["numpy"][1], np.random.get_state()[1])
    assert [p.name for p in guard.files] == ["state.pt"]


def test_torch_load_is_restored_after_the_block_even_on_refusal(tmp_path):
    original = torch.load
    path = write_payload(tmp_path / "f.pt", tmp_path / "marker")
    with pytest.raises(UntrustedCheckpointError), restricted_torch_load(CONSENT):
        assert torch.load is not original and torch.serialization.load is not original
        torch.load(path)
    assert torch.load is original and torch.serialization.load is original
    with restricted_torch_load(CONSENT) as outer, restricted_torch_load(CONSENT) as inner:
        assert inner is outer  # re-entrant: one guard
    assert torch.load is original


def test_a_loader_that_bypasses_torch_load_fails_loudly(monkeypatch):
    """If DeepSpeed stopped calling torch.load through the torch module, the hook would not reach it:
    that must stop the load, not let it run unrestricted."""
    fake = types.ModuleType("fake_loader")
    fake.torch, fake.load = torch, torch.load  # `from torch import load`
    monkeypatch.setitem(__import__("sys").modules, "fake_loader", fake)
    with pytest.raises(UnsafeLoaderError, match="fake_loader does not call torch.load.*--trust-checkpoint"):
        check_loaders(CONSENT, ("fake_loader",))
    with pytest.raises(UnsafeLoaderError, match="cannot be imported"):
        check_loaders(CONSENT, ("no_such_module_here",))
    check_loaders(CONSENT)  # the installed DeepSpeed and transformers pass
    monkeypatch.setattr(safe_unpickle, "LOADER_MODULES", ("fake_loader",))
    with pytest.raises(UnsafeLoaderError):
        with restricted_torch_load(CONSENT):
            pass


def test_files_read_around_the_hook_are_detected(tmp_path):
    torch.save({"x": torch.ones(1)}, tmp_path / "a.pt")
    torch.save({"x": torch.ones(1)}, tmp_path / "b.pt")
    with restricted_torch_load(CONSENT) as guard:
        torch.load(tmp_path / "a.pt")
    guard.require_read([tmp_path / "a.pt"], "reader")
    with pytest.raises(UnsafeLoaderError, match="reader read .*b.pt without going through"):
        guard.require_read([tmp_path / "a.pt", tmp_path / "b.pt"], "reader")


def test_a_corrupt_pickle_is_named(tmp_path):
    path = tmp_path / "f.pt"
    path.write_bytes(b"\x80\x02}q\x00(X")  # a pickle cut short
    with restricted_torch_load(CONSENT), pytest.raises(safe_unpickle.CorruptCheckpointError) as err:
        torch.load(path)
    assert str(path) in str(err.value) and "truncated or damaged" in str(err.value)
