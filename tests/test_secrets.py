"""Secrets never reach a printed command line: the stage scripts' launch line, submit.sh's dry run
and llava-train's own argv (recorded by W&B) mask them by the same rules (shell and Python twins).
The real 2-process run with a token on its command line is in tests/train/test_zero3_stages.py."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from llava.utils.secrets import mask_argv

REPO = Path(__file__).resolve().parents[1]
HF = "hf_" + "AbC123" * 6
WANDB = "0123456789abcdef" * 2 + "01234567"
SHA_PATH = "/cache/models--Qwen--Qwen3-1.7B/snapshots/" + WANDB  # a path, not a key

CASES = [
    (["--hub_token", HF], ["--hub_token", "***"]),
    (["--hub-token=" + HF], ["--hub-token=***"]),
    (["--wandb_api_key", "plain-looking-value"], ["--wandb_api_key", "***"]),
    (["--WANDB-API-KEY=x"], ["--WANDB-API-KEY=***"]),
    (["--client.secret", "s", "--secrets", "t"], ["--client.secret", "***", "--secrets", "***"]),
    (["--password", "a b c", "--db_passwd=p"], ["--password", "***", "--db_passwd=***"]),
    (["--run_name", f"run-{HF}"], ["--run_name", "run-***"]),
    (["--push", f"https://user:{HF}@huggingface.co/x"], ["--push", "https://user:***@huggingface.co/x"]),
    (["--something", WANDB, "--other=local-" + WANDB], ["--something", "***", "--other=***"]),
    (["--tokenizer_name", "t", "--max_new_tokens", "5", "--keys", "k"],
     ["--tokenizer_name", "t", "--max_new_tokens", "5", "--keys", "k"]),
    (["--model_name_or_path", SHA_PATH, "--learning_rate", "1e-5"],
     ["--model_name_or_path", SHA_PATH, "--learning_rate", "1e-5"]),
]


@pytest.mark.parametrize("argv, expected", CASES)
def test_python_and_shell_mask_the_same_way(argv, expected):
    assert mask_argv(argv) == expected
    script = f'source "{REPO}/scripts/zero3/secrets.sh"; llava_mask_array "$@"; printf "%s\\n" "${{LLAVA_MASKED[@]}}"'
    shell = subprocess.run(["bash", "-c", script, "_", *argv], capture_output=True, text=True, check=True)
    assert shell.stdout.split("\n")[:-1] == expected


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_ROOT", "DATA_CONFIG", "DATA_PATH", "MODEL", "LLM")}
    return {**env, **{k: str(v) for k, v in extra.items()}}


def test_stage_script_prints_the_launch_line_masked(tmp_path):
    env = _clean_env(DRY_RUN=1, NPROC_PER_NODE=2, REPORT_TO="none", DATA_ROOT=tmp_path, MODEL="hf-org/model")
    proc = subprocess.run(["bash", str(REPO / "scripts/zero3/finetune_extract.sh"), "--hub_token", HF,
                           f"--wandb_api_key={WANDB}", "--max_steps", "3"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    launch = next(line for line in proc.stdout.splitlines() if "launch: " in line)
    assert "--hub_token *** --wandb_api_key=*** --max_steps 3" in launch
    assert HF not in proc.stdout + proc.stderr and WANDB not in proc.stdout + proc.stderr


def test_slurm_dry_run_prints_the_sbatch_line_masked(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAVA_")}
    proc = subprocess.run(["bash", str(REPO / "scripts/zero3/slurm/submit.sh"), "--stage",
                           str(REPO / "scripts/zero3/finetune_extract.sh"), "--output-dir", str(tmp_path / "run"),
                           "--dry-run", "--", "--hub_token", HF], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert HF not in proc.stdout and "--hub_token" in proc.stdout


def test_llava_train_masks_its_own_argv(monkeypatch):
    import sys

    from llava.utils.secrets import scrub_process_argv

    monkeypatch.setattr(sys, "argv", ["llava-train", "--hub_token", HF, "--output_dir", "out"])
    scrub_process_argv()
    assert sys.argv == ["llava-train", "--hub_token", "***", "--output_dir", "out"]
