"""Helpers to run the stage scripts (2-process DeepSpeed ZeRO-3 on CPU) from tests."""
from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ZERO3 = REPO / "scripts" / "zero3"
# Shared across tests and runs: DeepSpeed compiles its CPU comm op once (~30 s) and reuses it.
TORCH_EXTENSIONS_DIR = os.environ.get("TORCH_EXTENSIONS_DIR", "/tmp/torch_extensions")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_stage(script: str, tmp: Path, log_name: str, *args: str, timeout: int = 600,
              **env_overrides) -> subprocess.CompletedProcess:
    """Run scripts/zero3/<script> (extra llava-train `args`) with a clean environment for tiny runs;
    the log is kept in tmp."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_ROOT", "DATA_CONFIG", "DATA_PATH", "MODEL", "LLM",
                                                           "OUTPUT_DIR", "RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env.update({"TORCH_EXTENSIONS_DIR": TORCH_EXTENSIONS_DIR, "MASTER_PORT": str(free_port()),
                "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "NPROC_PER_NODE": "2"})
    env.update({k: str(v) for k, v in env_overrides.items()})
    proc = subprocess.run(["bash", str(ZERO3 / script), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    (tmp / f"{log_name}.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    return proc


def losses(output_dir: Path) -> dict[int, float]:
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return {h["step"]: h["loss"] for h in state["log_history"] if "loss" in h}


def tail(proc: subprocess.CompletedProcess, n: int = 3000) -> str:
    return (proc.stdout[-n:] + "\n--- stderr ---\n" + proc.stderr[-n:])
