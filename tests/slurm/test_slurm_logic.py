"""The Slurm template's logic without Slurm: ports, master address, resume detection, W&B id,
the submit command line, and the preemption callback."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
SLURM = REPO / "scripts" / "zero3" / "slurm"


def lib(call: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'source "{SLURM}/slurm_lib.sh"; {call}'], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_port_is_derived_from_the_job_id():
    ports = {job: int(lib(f"llava_master_port {job}").stdout) for job in (1, 2, 49_999, 50_000, 1_234_567)}
    assert ports == {1: 10_001, 2: 10_002, 49_999: 59_999, 50_000: 10_000, 1_234_567: 10_000 + 1_234_567 % 50_000}


def test_busy_port_is_skipped_when_checking():
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen()
        busy = s.getsockname()[1]
        if not 10_000 <= busy < 60_000:
            pytest.skip(f"the OS picked port {busy}, outside the template's range")
        job = busy - 10_000
        assert int(lib(f"llava_master_port {job}").stdout) == busy  # no check: deterministic
        assert int(lib(f"llava_master_port {job} check").stdout) == busy + 1


def test_master_addr_is_the_first_host_of_the_nodelist(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    # Stands in for `scontrol show hostnames gpu[07-09]` (what Slurm prints for a node range).
    (fake / "scontrol").write_text('#!/bin/sh\n[ "$1 $2 $3" = "show hostnames gpu[07-09]" ] && '
                                   'printf "gpu07\\ngpu08\\ngpu09\\n"\n')
    (fake / "scontrol").chmod(0o755)
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "gpu[07-09]"}
    assert lib("llava_master_addr", env).stdout.strip() == "gpu07"
    no_slurm = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    out = subprocess.run(["bash", "-c", f'source "{SLURM}/slurm_lib.sh"; llava_master_addr'], capture_output=True,
                         text=True, env=no_slurm).stdout.strip()
    assert out == socket.gethostname()


def test_latest_complete_checkpoint(tmp_path):
    for step, complete in ((9, True), (10, True), (11, False), (2, True)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (tmp_path / "checkpoint-final").mkdir()
    (tmp_path / "checkpoint-99.tmp").mkdir()
    assert lib(f'llava_latest_checkpoint "{tmp_path}"').stdout.strip() == str(tmp_path / "checkpoint-10")
    assert lib(f'llava_latest_checkpoint "{tmp_path / "missing"}"').stdout == ""


def test_wandb_run_id_survives_requeues(tmp_path):
    first = lib(f'llava_wandb_run_id "{tmp_path}" 123').stdout.strip()
    again = lib(f'llava_wandb_run_id "{tmp_path}" 456').stdout.strip()
    assert first.startswith("slurm-123-") and again == first
    assert (tmp_path / ".wandb_run_id").read_text().strip() == first


def _submit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLAVA_")}
    return subprocess.run(["bash", str(SLURM / "submit.sh"), *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=60)


def test_submit_builds_the_sbatch_line_from_flags_and_env(tmp_path):
    stage = REPO / "scripts" / "zero3" / "finetune_extract.sh"
    out = _submit("--stage", str(stage), "--output-dir", str(tmp_path / "run"), "--nodes", "4",
                  "--gpus-per-node", "8", "--partition", "gpu", "--account", "proj1", "--time", "2-00:00:00",
                  "--signal-lead", "600", "--dry-run", "--", "--max_steps", "10", env={"LLAVA_QOS": "high"})
    assert out.returncode == 0, out.stderr
    line = out.stdout
    for part in ("--nodes=4", "--ntasks-per-node=1", "--gpus-per-node=8", "--partition=gpu", "--account=proj1",
                 "--time=2-00:00:00", "--qos=high", "--requeue", "--signal=B:USR1@600", "--open-mode=append",
                 f"--output={tmp_path / 'run' / 'logs'}/%x-%j.out", "LLAVA_PROCS_PER_NODE=8",
                 f"LLAVA_STAGE={stage}", str(SLURM / "train.sbatch"), "--max_steps 10"):
        assert part in line, part
    bare = _submit("--stage", str(stage), "--output-dir", str(tmp_path / "r2"), "--dry-run").stdout
    assert "--partition" not in bare and "--account" not in bare and "--time" not in bare


@pytest.mark.parametrize("args, message", [
    ((), "--stage SCRIPT is required"),
    (("--stage", "/nonexistent.sh", "--output-dir", "x"), "does not exist"),
    (("--stage", str(SLURM / "train.sbatch"), "--output-dir", "x", "--nodes", "two"), "must be a number"),
    (("--stage", str(SLURM / "train.sbatch"), "--output-dir", "x", "--gpus-per-node", "0"), "--procs-per-node"),
])
def test_submit_mistakes_are_named(tmp_path, args, message):
    out = _submit(*args)
    assert out.returncode == 2 and message in out.stderr


def test_templates_keep_the_slurm_contract():
    sbatch = (SLURM / "train.sbatch").read_text()
    assert "#SBATCH --signal=B:USR1@" in sbatch and "#SBATCH --requeue" in sbatch
    assert "srun --ntasks-per-node=1" in sbatch and 'scontrol requeue "$SLURM_JOB_ID"' in sbatch
    # nothing site-specific in the template: those come from submit.sh flags
    assert not re.search(r"#SBATCH\s+--(partition|account|time|nodes|gpus|qos)", sbatch)
    for name in ("train.sbatch", "node_launch.sh", "submit.sh", "slurm_lib.sh"):
        subprocess.run(["bash", "-n", str(SLURM / name)], check=True)


def _callback_round(callback, step=3):
    from transformers import TrainerControl, TrainerState

    state, control = TrainerState(), TrainerControl()
    state.global_step = step
    return callback.on_step_end(SimpleNamespace(device="cpu"), state, control)


def test_preemption_signal_saves_and_stops(monkeypatch):
    from llava.train import preemption

    monkeypatch.setattr(preemption, "_state", {"requested": False, "preempted": False})
    monkeypatch.delenv(preemption.STOP_FILE_ENV, raising=False)
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        callback = preemption.PreemptionCallback()
        control = _callback_round(callback)
        assert not control.should_save and not control.should_training_stop and not preemption.was_preempted()
        os.kill(os.getpid(), signal.SIGUSR1)
        control = _callback_round(callback)
        assert control.should_save and control.should_training_stop and preemption.was_preempted()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_preemption_stop_file(monkeypatch, tmp_path):
    from llava.train import preemption

    monkeypatch.setattr(preemption, "_state", {"requested": False, "preempted": False})
    stop = tmp_path / ".preempt-1-0"
    monkeypatch.setenv(preemption.STOP_FILE_ENV, str(stop))
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        callback = preemption.PreemptionCallback()
        assert not _callback_round(callback).should_save
        stop.write_text("now")
        control = _callback_round(callback)
        assert control.should_save and control.should_training_stop
    finally:
        signal.signal(signal.SIGUSR1, previous)
