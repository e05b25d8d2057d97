"""`llava-export` with hostile or broken inputs: ZeRO shards that would run code when unpickled, and
a truncated consolidated `model.safetensors` (fast; the same with real ZeRO-3 shards is in
test_sources.py)."""
from __future__ import annotations

import contextlib
import shutil

import pytest
import torch
from safetensors.torch import load_file

from llava.export.cli import main
from tests.hostile import write_payload


def _truncate(path, keep: float = 0.5) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * keep))


def _zero_folder(tiny_checkpoint, tmp_path, marker, kind):
    """A checkpoint folder whose (only) ZeRO shard is a hostile pickle."""
    folder = tmp_path / "checkpoint-1"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "model.safetensors").unlink()
    (folder / "latest").write_text("global_step1")
    shard = write_payload(folder / "global_step1" / "zero_pp_rank_0_mp_rank_00_model_states.pt", marker, kind)
    return folder, shard


@pytest.mark.parametrize("kind", ["exec", "shell"])
def test_hostile_zero_shard_is_refused_unless_trusted(tiny_checkpoint, tmp_path, capsys, kind):
    marker = tmp_path / "marker"
    folder, shard = _zero_folder(tiny_checkpoint, tmp_path, marker, kind)
    assert main([str(folder), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(shard) in err and "--trust-checkpoint" in err, err
    assert not marker.exists()
    # With the user's consent DeepSpeed unpickles it as it always did, and the payload runs: the
    # refusal above is what kept it from running.
    with contextlib.suppress(Exception):  # the payload is not a model state: the export fails after it ran
        main([str(folder), "-o", str(tmp_path / "out2"), "--trust-checkpoint"])
    assert marker.exists()


def test_truncated_safetensors_is_named(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    _truncate(folder / "model.safetensors")
    assert main([str(folder), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(folder / "model.safetensors") in err and "truncated" in err, err
    assert "--from-zero" not in err  # no shards here to fall back to


def test_from_zero_never_reads_the_consolidated_file(tiny_checkpoint, tmp_path, monkeypatch):
    """The consolidated file may be the broken part: with --from-zero it is not opened at all."""
    from llava.export import sources
    from llava.model.weights import CorruptWeightsError

    folder = tmp_path / "checkpoint-2"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "global_step2").mkdir()
    (folder / "latest").write_text("global_step2")
    _truncate(folder / "model.safetensors")
    intact = load_file(str(tiny_checkpoint / "model.safetensors"))
    monkeypatch.setattr(sources, "consolidate_zero", lambda ckpt, trust=False: dict(intact))

    src = sources.read_source(folder, prefer_zero=True)
    assert src.state_dict.keys() == intact.keys() and "DeepSpeed ZeRO shards" in src.weights_from
    with pytest.raises(CorruptWeightsError, match=r"model.safetensors cannot be read.*--from-zero"):
        sources.read_source(folder)


def test_intact_weights_export_as_before(tiny_checkpoint, tmp_path):
    from llava.export import export

    out = export(tiny_checkpoint, tmp_path / "out", formats=("llava",))["llava"]
    before = load_file(str(tiny_checkpoint / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
