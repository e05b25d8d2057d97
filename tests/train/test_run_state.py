"""Reruns, kills and two runs in one folder: nothing lost, nothing trained that was not asked for.

Real processes and real signals: a process killed while writing a checkpoint, a launcher killed
while its workers train, a second run started beside a running one.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from llava.train.run_state import FINISHED_MARKER, checkpoint_problem, newest_complete_checkpoint
from zero3_runs import REPO, losses, run_stage, tail

ENV = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
for _key in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
    ENV.pop(_key, None)

# Runs llava-train in this process after making the checkpoint save of step KILL_AT kill the process
# with SIGKILL right before trainer_state.json (the Trainer's last checkpoint file) is written.
KILLING_DRIVER = """
import os, signal, sys
from llava.train.trainer import LLaVATrainer
from llava.train.train import main
kill_at = os.environ.get("KILL_AT")
original = LLaVATrainer._save_rng_state
def save_rng_state(self, output_dir):
    original(self, output_dir)
    if kill_at and output_dir.endswith("checkpoint-" + kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
LLaVATrainer._save_rng_state = save_rng_state
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def assets(tmp_path_factory, copy_tiny_assets):
    return copy_tiny_assets(tmp_path_factory.mktemp("runstate") / "tiny")


def _argv(assets, out: Path, *extra: str) -> list[str]:
    return ["--model_name_or_path", str(assets.checkpoint), "--data_path", str(assets.data_extract),
            "--output_dir", str(out), "--report_to", "none", "--max_steps", "4", "--save_steps", "2",
            "--save_total_limit", "5", "--per_device_train_batch_size", "2", "--learning_rate", "1e-3",
            "--logging_steps", "1", "--seed", "3", "--image_aspect_ratio", "square", "--model_max_length", "512",
            "--resume_from_checkpoint", "auto", *extra]


def _train(argv: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(ENV, KILL_AT=kill_at or "")
    return subprocess.run([sys.executable, "-c", KILLING_DRIVER, *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def _out(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def finished(assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = _train(_argv(assets, out))
    assert proc.returncode == 0, _out(proc)[-3000:]
    return out


@pytest.mark.slow
def test_a_finished_run_rerun_changes_nothing(assets, finished):
    weights = (finished / "model.safetensors").read_bytes()
    state = (finished / "trainer_state.json").read_text()
    assert json.loads((finished / FINISHED_MARKER).read_text())["global_step"] == 4
    for _ in range(2):
        proc = _train(_argv(assets, finished))
        assert proc.returncode == 0, _out(proc)[-3000:]
        assert "already complete" in proc.stdout and "finished at step 4" in proc.stdout
    assert (finished / "model.safetensors").read_bytes() == weights
    assert (finished / "trainer_state.json").read_text() == state
    assert not (finished / "checkpoint-5").exists()


@pytest.mark.slow
def test_continuing_a_finished_run_on_purpose(assets, finished, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished, out)
    same = _train(_argv(assets, out, "--continue_training", "True"))
    assert same.returncode == 0 and "raise --max_steps" in same.stdout, _out(same)[-3000:]
    proc = _train(_argv(assets, out, "--continue_training", "True", "--max_steps", "6"))
    assert proc.returncode == 0, _out(proc)[-3000:]
    assert "global step 4" in _out(proc)  # resumed from checkpoint-4
    assert set(losses(out)) == {1, 2, 3, 4, 5, 6}
    assert json.loads((out / FINISHED_MARKER).read_text())["global_step"] == 6


@pytest.mark.slow
def test_a_kill_while_writing_a_checkpoint_resumes_from_the_last_complete_one(assets, finished, tmp_path):
    out = tmp_path / "run"
    killed = _train(_argv(assets, out), kill_at="4")
    assert killed.returncode == -signal.SIGKILL, _out(killed)[-3000:]
    assert checkpoint_problem(out / "checkpoint-4").startswith("no trainer_state.json")
    assert newest_complete_checkpoint(out)[0] == out / "checkpoint-2"
    assert not (out / FINISHED_MARKER).exists()

    proc = _train(_argv(assets, out))
    assert proc.returncode == 0, _out(proc)[-3000:]
    assert "skipping" in _out(proc) and "checkpoint-4: no trainer_state.json" in _out(proc)
    assert "global step 2" in _out(proc)  # resumed from checkpoint-2
    for step in (3, 4):  # as the uninterrupted run
        assert losses(out)[step] == pytest.approx(losses(finished)[step], rel=1e-6, abs=1e-7)
    a, b = load_file(str(finished / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(a[k].equal(b[k]) for k in a)


def test_a_second_run_in_a_busy_folder_is_refused_naming_the_holder(assets, tmp_path):
    out = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from llava.train.run_state import hold_output_dir\n"
                               "lock = hold_output_dir(sys.argv[1]); print('held', flush=True); time.sleep(120)",
                               str(out)], cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = _train(_argv(assets, out))
        assert proc.returncode == 2
        assert f"in use by another training run (pid {holder.pid}" in proc.stderr
        assert not (out / "checkpoint-2").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_workers_die_with_their_launcher(tmp_path, copy_tiny_assets):
    """SIGKILL of the launcher's process group: the workers must not train on (and save) by themselves."""
    import psutil

    tiny = copy_tiny_assets(tmp_path / "tiny").root
    out = tmp_path / "runs" / "extract"
    log = tmp_path / "launch.log"
    with open(log, "w") as handle:
        env = {**ENV, "TINY_DIR": str(tiny), "CKPT_ROOT": str(tmp_path / "runs"), "MAX_STEPS": "400",
               "SAVE_STEPS": "1000", "REPORT_TO": "none", "NPROC_PER_NODE": "2",
               "MASTER_PORT": str(29700 + os.getpid() % 200)}
        launcher = subprocess.Popen(["bash", str(REPO / "scripts" / "zero3" / "finetune_extract.sh")], cwd=REPO,
                                    env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 300
        while "'loss'" not in log.read_text() and time.time() < deadline and launcher.poll() is None:
            time.sleep(1)
        assert "'loss'" in log.read_text(), log.read_text()[-3000:]
        workers = [p for p in psutil.Process(launcher.pid).children(recursive=True)
                   if "llava.train.train" in " ".join(p.cmdline())]
        assert len(workers) == 2
        os.killpg(launcher.pid, signal.SIGKILL)
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, [p.pid for p in alive]
    finally:
        for p in psutil.Process().children(recursive=True):
            p.kill()
    assert not (out / "model.safetensors").exists()  # nothing finished or saved after the kill
    # The folder is free again: a new run may take it.
    from llava.train.run_state import hold_output_dir

    hold_output_dir(out).release()
