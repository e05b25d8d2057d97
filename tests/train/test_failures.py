"""Errors that used to arrive late or buried: a checkpoint config naming an unknown LLM, tower or
projector is refused by the cheap preflight in one line (file, key, bad value, known values); a
failed 2-process run ends with its root error, printed once, last."""
from __future__ import annotations

import json
import shutil
import signal
from types import SimpleNamespace

import pytest

from llava.train.failures import root_failure
from llava.train.train import main


@pytest.fixture(scope="module")
def assets(tmp_path_factory, copy_tiny_assets):
    return copy_tiny_assets(tmp_path_factory.mktemp("assets") / "tiny")


def bad_checkpoint(assets, folder, **changes):
    """A copy of the tiny LLaVA checkpoint whose config.json has `changes` (None deletes a key;
    dotted keys reach into vision_config)."""
    shutil.copytree(str(assets.checkpoint), folder)
    cfg = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        target, name = (cfg["vision_config"], key.split(".", 1)[1]) if key.startswith("vision_config.") else (cfg, key)
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


BAD_CONFIGS = {
    "projector": ({"mm_projector_type": "mlp2x_relu"}, ["mm_projector_type", "'mlp2x_relu'", "mlpNx_gelu"]),
    "tower type": ({"vision_config.model_type": "dinov2"}, ["vision_config.model_type", "'dinov2'", "siglip"]),
    "tower without config": ({"vision_config": None, "mm_vision_tower": "/nonexistent/tower"},
                             ["mm_vision_tower", "/nonexistent/tower", "does not exist"]),
    "llm": ({"architectures": ["LlavaMistralForCausalLM"], "model_type": "llava_mistral"},
            ["model_type", "'llava_mistral'", "LlavaMistralForCausalLM", "llava_qwen_3", "LlavaQwen3ForCausalLM"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_unknown_registry_key_is_refused_by_the_preflight(assets, tmp_path, capsys, monkeypatch, case):
    changes, needles = BAD_CONFIGS[case]
    ckpt = bad_checkpoint(assets, tmp_path / "ckpt", **changes)

    def too_late(*a, **k):
        raise AssertionError("the preflight let the run reach the distributed backend")

    monkeypatch.setattr("llava.train.train.init_distributed", too_late)
    code = main(["--model_name_or_path", str(ckpt), "--data_path", str(assets.data_extract),
                 "--output_dir", str(tmp_path / "out"), "--report_to", "none"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert str(ckpt / "config.json") in err and all(n in err for n in needles), err


def test_unknown_projector_flag_is_refused_when_parsing(assets, tmp_path, capsys):
    code = main(["--model_name_or_path", str(assets.llm), "--data_path", str(assets.data_pretrain),
                 "--output_dir", str(tmp_path / "out"), "--mm_projector_type", "mlp0x_gelu"])
    assert code == 2 and "--mm_projector_type: unknown mm_projector_type 'mlp0x_gelu'" in capsys.readouterr().err


def _failure(exitcode, timestamp, message=None, time_ns=None, pid=1):
    data = {"message": {"message": message, "extraInfo": {"time_ns": time_ns}}} if message else {}
    name = signal.Signals(-exitcode).name if exitcode < 0 else "<N/A>"
    return SimpleNamespace(exitcode=exitcode, timestamp=timestamp, error_file_data=data, pid=pid,
                           signal_name=lambda: name)


def test_root_failure_is_the_first_recorded_error_not_its_consequences():
    failures = {0: _failure(1, 100, "RuntimeError: Connection closed by peer", time_ns=2_000),
                1: _failure(1, 100, "ValueError: the real cause", time_ns=1_000)}
    assert root_failure(failures) == (1, "ValueError: the real cause")
    stopped = {0: _failure(-signal.SIGTERM, 99), 1: _failure(2, 100, "ValueError: bad config", time_ns=5)}
    assert root_failure(stopped) == (1, "ValueError: bad config")  # torchrun's SIGTERM to the others
    killed = {0: _failure(-signal.SIGKILL, 101, pid=7), 1: _failure(1, 100, "RuntimeError: peer gone", time_ns=5)}
    assert root_failure(killed) == (0, "killed by SIGKILL (pid 7; out of memory?)")
    silent = {0: _failure(3, 100, pid=9)}
    assert root_failure(silent) == (0, "exit code 3 (pid 9); its error is in the log above")


@pytest.mark.slow
def test_failed_two_process_run_ends_with_its_root_error_once(assets, tmp_path):
    """The real launch of a bad config: 2 ranks under torchrun (via the stage script). Measured
    before the preflight check (2026-12-06, 2-core CPU): the error came after data loading, from
    inside DeepSpeed's zero.Init model build, without the file's name, and the log ended with 39
    lines of torchrun's ChildFailedError traceback and failure table."""
    from tests.train.zero3_runs import run_stage

    ckpt = bad_checkpoint(assets, tmp_path / "ckpt", mm_projector_type="mlp2x_relu")
    proc = run_stage("finetune_extract.sh", tmp_path, "bad_config", MODEL=ckpt, TINY_DIR=tmp_path / "tiny",
                     OUTPUT_DIR=tmp_path / "out", REPORT_TO="none", timeout=300)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("llava-train failed on rank ") and ": ValueError: " in last, proc.stderr[-3000:]
    assert str(ckpt / "config.json") in last and "unknown mm_projector_type 'mlp2x_relu'" in last
    assert proc.stderr.count("llava-train failed on rank") == 1
    assert "ChildFailedError" not in proc.stdout + proc.stderr
    assert "zero.init" not in proc.stdout + proc.stderr and "Data: " not in proc.stdout  # before model and data
