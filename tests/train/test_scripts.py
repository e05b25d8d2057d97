"""The stage scripts' settings (DRY_RUN=1 prints the exact launch command) and the shipped mixtures."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from llava.data.mixture import read_specs

REPO = Path(__file__).resolve().parents[2]
STAGES = {
    "pretrain_projector.sh": {"--learning_rate": "1e-3", "--mm_tunable_parts": "mm_mlp_adapter",
                              "--conv_template": "plain", "--image_aspect_ratio": "square"},
    "pretrain_caption.sh": {"--learning_rate": "1e-5", "--mm_vision_tower_lr": "2e-6", "--conv_template": "qwen_1_5",
                            "--mm_tunable_parts": "mm_vision_tower,mm_mlp_adapter,mm_language_model"},
    "finetune_extract.sh": {"--learning_rate": "1e-5", "--mm_vision_tower_lr": "2e-6",
                            "--image_aspect_ratio": "anyres_max_9"},
    "finetune_extract_from_scratch.sh": {"--learning_rate": "1e-5", "--mm_vision_tower_lr": "2e-6"},
}
COMMON = {"--lr_scheduler_type": "cosine", "--warmup_steps": "0.03", "--num_train_epochs": "1",
          "--gradient_checkpointing": "True", "--model_max_length": "32768"}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, copy_tiny_assets):
    d = tmp_path_factory.mktemp("assets") / "tiny"
    copy_tiny_assets(d)
    return d


def dry_run(script, *args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("DATA_ROOT", "DATA_CONFIG", "DATA_PATH", "MODEL", "LLM")}
    base.update({"DRY_RUN": "1", "NPROC_PER_NODE": "2", "REPORT_TO": "none"})
    base.update({k: str(v) for k, v in env.items()})
    proc = subprocess.run(["bash", str(REPO / "scripts" / "zero3" / script), *args], env=base, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    launch = next((line.split("launch: ", 1)[1].split() for line in proc.stdout.splitlines() if "launch: " in line), [])
    flags = {a: b for a, b in zip(launch, launch[1:]) if a.startswith("--")}
    return proc, flags, launch


@pytest.mark.parametrize("script", sorted(STAGES))
def test_tiny_default_settings(script, tiny_dir):
    proc, flags, _ = dry_run(script, TINY_DIR=tiny_dir)
    assert proc.returncode == 0, proc.stderr
    assert "TINY EMBEDDED DEFAULT" in proc.stdout.splitlines()[0]
    for k, v in {**STAGES[script], **COMMON}.items():
        assert flags.get(k) == v, (k, flags.get(k))
    assert Path(flags["--deepspeed"]).name == "zero3_tiny.json"
    assert flags["--nproc_per_node"] == "2" and flags["--gradient_accumulation_steps"] == "2"
    assert Path(flags["--model_name_or_path"]).is_relative_to(tiny_dir)


def test_real_defaults_env_overrides_and_passthrough(tmp_path):
    proc, flags, launch = dry_run("pretrain_projector.sh", "--max_steps", "7", DATA_ROOT=tmp_path, LR="5e-4",
                                  NNODES=2, NODE_RANK=1, MASTER_ADDR="10.0.0.1", MASTER_PORT=1234)
    assert proc.returncode == 0, proc.stderr
    assert "TINY" not in proc.stdout
    assert flags["--model_name_or_path"] == "Qwen/Qwen3-1.7B"
    assert flags["--vision_tower"] == "google/siglip-so400m-patch14-384"
    assert flags["--data_path"].endswith("data_configs/stage0_projector.yaml")
    assert flags["--learning_rate"] == "5e-4"
    assert Path(flags["--deepspeed"]).name == "zero3.json"
    # 512 global = 16 per device x (2 nodes x 2 processes) x 8 accumulation
    assert flags["--gradient_accumulation_steps"] == "8"
    assert (flags["--nnodes"], flags["--node_rank"], flags["--master_addr"], flags["--master_port"]) == \
        ("2", "1", "10.0.0.1", "1234")
    assert launch[-2:] == ["--max_steps", "7"]  # extra arguments come last, so they win


def test_tiny_zero3_config_differs_only_in_the_gradient_bucket():
    real = json.loads((REPO / "scripts" / "zero3" / "zero3.json").read_text())
    tiny = json.loads((REPO / "scripts" / "zero3" / "zero3_tiny.json").read_text())
    assert real["zero_optimization"].pop("reduce_bucket_size") == "auto"
    assert tiny["zero_optimization"].pop("reduce_bucket_size") == 1e8
    assert tiny == real


def test_global_batch_must_divide(tmp_path):
    proc, _, _ = dry_run("finetune_extract.sh", DATA_ROOT=tmp_path, GLOBAL_BATCH=3)
    assert proc.returncode == 2 and "GLOBAL_BATCH=3" in proc.stderr


@pytest.mark.parametrize("yaml_path", sorted((REPO / "data_configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_mixture_parses(yaml_path, monkeypatch):
    monkeypatch.setenv("DATA_ROOT", "/data")
    specs, _ = read_specs(yaml_path)
    assert specs and all(str(s.json_path).startswith("/data/") for s in specs)
    assert all(s.image_folder is not None and str(s.image_folder).startswith("/data/") for s in specs)


def test_tiny_dir_with_shell_syntax_is_data_not_code(tmp_path_factory, copy_tiny_assets):
    """The paths of the embedded default reach the shell as NUL-separated data: a folder name with a
    newline and a command substitution stays a name, and nothing runs."""
    base = tmp_path_factory.mktemp("evil")
    marker = base / "pwned"
    tricky = base / f"a\nTINY_CHECKPOINT=$(touch {marker})\nb"
    copy_tiny_assets(tricky)
    proc, flags, _ = dry_run("finetune_extract.sh", TINY_DIR=tricky)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert "$(touch" in proc.stdout  # the launch line shows the folder name as it is


def test_a_failing_embedded_default_build_stops_the_script(tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "data.txt").write_text("a user's file")
    proc, _, launch = dry_run("finetune_extract.sh", TINY_DIR=occupied)
    assert proc.returncode == 2 and not launch
    assert "not created by the embedded default" in proc.stderr
    assert (occupied / "data.txt").read_text() == "a user's file"
