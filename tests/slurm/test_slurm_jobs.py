"""Real Slurm on localhost (scripts/ci/start_slurm.sh): the shipped sbatch template runs the tiny
ZeRO-3 training to completion, and a preempted job checkpoints, requeues itself and resumes.

Skipped, with the reason, when the Slurm/munge binaries are absent (CI installs the Debian packages
slurmctld slurmd slurm-client munge) or when not running as root (slurmd must be able to start
jobs as the submitting user, and munged/slurmd here run as the current user).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAGE = REPO / "scripts" / "zero3" / "finetune_extract.sh"
SUBMIT = REPO / "scripts" / "zero3" / "slurm" / "submit.sh"
MISSING = [b for b in ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue") if shutil.which(b) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"Slurm is not installed ({', '.join(MISSING)} missing): apt-get "
                                             "install -y --no-install-recommends slurmctld slurmd slurm-client munge"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the local test cluster runs slurmd as the current user, which "
                                                 "must be root to launch jobs"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "LLAVA_SLURMCTLD_PORT": str(_free_port()), "LLAVA_SLURMD_PORT": str(_free_port())}
    start = subprocess.run(["bash", str(REPO / "scripts/ci/start_slurm.sh"), str(scratch)], env=env,
                           capture_output=True, text=True, timeout=120)
    if start.returncode != 0:
        subprocess.run(["bash", str(REPO / "scripts/ci/stop_slurm.sh"), str(scratch)], timeout=60)
        pytest.fail(f"could not start the local Slurm:\n{start.stdout}\n{start.stderr}")
    env["SLURM_CONF"] = str(scratch / "slurm.conf")
    env["LLAVA_TEST_SLURM_DIR"] = str(scratch)
    yield env
    subprocess.run(["scancel", "--user", os.environ.get("USER", "root")], env=env, timeout=30)
    subprocess.run(["bash", str(REPO / "scripts/ci/stop_slurm.sh"), str(scratch)], timeout=60)


def _job_env(slurm: dict, tmp: Path, **extra) -> dict:
    env = {k: v for k, v in slurm.items() if k not in ("DATA_ROOT", "DATA_CONFIG", "DATA_PATH", "MODEL", "RANK",
                                                       "LOCAL_RANK", "WORLD_SIZE", "OUTPUT_DIR")}
    env.update({"TINY_DIR": str(tmp / "tiny"), "REPORT_TO": "none", "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1",
                "DS_ACCELERATOR": "cpu", "TOKENIZERS_PARALLELISM": "false",
                "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", "/tmp/torch_extensions")})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _submit(env: dict, out: Path) -> str:
    proc = subprocess.run(["bash", str(SUBMIT), "--stage", str(STAGE), "--output-dir", str(out), "--gpus-per-node",
                           "0", "--procs-per-node", "2", "--time", "30", "--signal-lead", "60",
                           "--job-name", "tiny"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("submitted job ")[1].split(";")[0]


def _job(env: dict, job_id: str) -> dict:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=env, capture_output=True, text=True).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def _wait(predicate, timeout: float, what: str, logs: Path):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    text = "\n".join(f"== {p}\n{p.read_text()[-4000:]}" for p in sorted(logs.glob("*")) if p.is_file())
    pytest.fail(f"timed out waiting for {what}\n{text}")


def _logs(out: Path) -> str:
    return "\n".join(p.read_text() for p in sorted((out / "logs").glob("*")) if p.is_file())


def _cluster_report(env: dict, job: str, out: Path) -> str:
    """What a failed assertion shows: the job record, the cluster's own logs and the job's logs."""
    record = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True, text=True).stdout
    daemons = "\n".join(f"== {p}\n" + "\n".join(p.read_text().splitlines()[-40:])
                        for p in sorted((Path(env["LLAVA_TEST_SLURM_DIR"]) / "log").glob("*.log")))
    return f"{record}\n{daemons}\n== job logs\n{_logs(out)[-4000:]}"


FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")


def _finished_state(env: dict, job: str) -> str | None:
    state = _job(env, job).get("JobState")
    return state if state in FINISHED else None


def test_tiny_training_job_completes_and_loads(slurm, tmp_path, copy_tiny_assets):
    out = tmp_path / "run"
    copy_tiny_assets(tmp_path / "tiny")
    env = _job_env(slurm, tmp_path, MAX_STEPS=2, SAVE_STEPS=2)
    job = _submit(env, out)
    state = _wait(lambda: _finished_state(env, job), 600, "the job to finish", out / "logs")
    assert state == "COMPLETED", _cluster_report(env, job, out)
    logs = _logs(out)
    assert f"job {job} (restart 0)" in logs and "training finished with exit code 0" in logs
    assert (out / "logs" / f"tiny-{job}.out").is_file() and (out / "logs" / f"tiny-{job}-node0.log").is_file()
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()
    assert (out / ".wandb_run_id").read_text().startswith(f"slurm-{job}-")

    from llava.model.builder import load_pretrained_model

    _, model, _, _ = load_pretrained_model(str(out), device_map="cpu", torch_dtype="float32")
    assert model.config.model_type == "llava_qwen_3"


def test_preempted_job_checkpoints_requeues_and_resumes(slurm, tmp_path, copy_tiny_assets):
    out = tmp_path / "run"
    copy_tiny_assets(tmp_path / "tiny")
    total = 24  # enough steps that the signal lands mid-training on fast machines too
    env = _job_env(slurm, tmp_path, MAX_STEPS=total, SAVE_STEPS=1000)
    job = _submit(env, out)
    wandb_id = _wait(lambda: (out / ".wandb_run_id").is_file() and (out / ".wandb_run_id").read_text().strip(),
                     120, "the job to start", out / "logs")
    # Preempt once training is stepping (a loss has been logged).
    _wait(lambda: "'loss'" in _logs(out), 600, "the first training step", out / "logs")
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=env, check=True, timeout=30)
    _wait(lambda: _job(env, job).get("Restarts", "0") != "0", 300, "the requeue", out / "logs")
    saved = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert len(saved) == 1 and 0 < saved[0] < total, saved
    step = saved[0]
    assert not (out / "model.safetensors").exists()  # a preempted run must not write the final model
    # Slurm starts a requeued job again once the previous run's job credential has expired (the
    # test cluster sets cred_expire=10 s; the default is 120 s). Releasing it earlier by hand raced
    # the credential revocation on the node ("Job credential revoked": the job FAILED without running).
    state = _wait(lambda: _finished_state(env, job), 600, "the resumed job to finish", out / "logs")
    logs = _logs(out)
    assert state == "COMPLETED", _cluster_report(env, job, out)
    assert "after the preemption signal: requeueing" in logs
    assert f"job {job} (restart 1)" in logs and f"resume {out / f'checkpoint-{step}'}" in logs
    history = json.loads((out / "trainer_state.json").read_text())
    assert history["global_step"] == total
    steps = [h["step"] for h in history["log_history"] if "loss" in h]
    assert steps == list(range(1, total + 1))  # resumed after `step`, nothing repeated or skipped
    assert (out / ".wandb_run_id").read_text().strip() == wandb_id
    assert (out / "model.safetensors").is_file()
