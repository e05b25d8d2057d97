"""ZeRO-3 with 2 CPU processes: ranks with image and text-only batches stay in step (no hang)."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llava.tiny import models as tiny


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_zero3_image_rank_and_text_rank_train_together(tmp_path):
    pytest.importorskip("deepspeed")
    llm = tiny.save_tiny_qwen3_llm(tmp_path / "llm")
    tower = tiny.save_tiny_siglip(tmp_path / "tower")
    env = dict(os.environ, WANDB_MODE="offline", OMP_NUM_THREADS="1",
               TORCH_EXTENSIONS_DIR=os.environ.get("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "torch_extensions")))
    worker = Path(__file__).with_name("zero3_worker.py")
    with socket.socket() as sock:  # a free port, so parallel test runs do not collide
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
         str(worker), str(llm), str(tower), str(tmp_path / "result")],
        env=env, capture_output=True, text=True, timeout=540)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    r0 = json.loads((tmp_path / "result.0").read_text())
    r1 = json.loads((tmp_path / "result.1").read_text())
    assert len(r0["losses"]) == len(r1["losses"]) == 2
    # both ranks gathered the same fresh projector (written on rank 0, broadcast by DeepSpeed)
    assert r0["projector_sum"] == r1["projector_sum"] != 0.0
