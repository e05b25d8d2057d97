"""ZeRO-3 with 2 CPU processes: ranks with image and text-only batches stay in step (no hang)."""
import json
import os
import signal
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
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           str(worker), str(llm), str(tower), str(tmp_path / "result")]
    # own process group: on timeout the workers are killed too, not left behind
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=540)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail("ZeRO-3 run hung (ranks out of step?):\n" + output[-4000:])
    assert proc.returncode == 0, output[-4000:]
    r0 = json.loads((tmp_path / "result.0").read_text())
    r1 = json.loads((tmp_path / "result.1").read_text())
    assert len(r0["losses"]) == len(r1["losses"]) == 2
    # both ranks gathered the same fresh projector (written on rank 0, broadcast by DeepSpeed)
    assert r0["projector_sum"] == r1["projector_sum"] != 0.0
    # rank 0's first loss equals the same model and batch without DeepSpeed (image_newline, tower
    # and projector were really gathered inside the forward)
    import torch

    from llava.constants import IMAGE_TOKEN_INDEX
    from llava.model.from_parts import build_perception_model

    model, _ = build_perception_model(llm, tower, image_aspect_ratio="anyres_max_4",
                                      image_grid_pinpoints="(1x1),...,(3x3)", torch_dtype="float32",
                                      attn_implementation="sdpa", seed=0)
    model.train()
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, 7, 8]])
    images = [torch.randn(7, 3, 64, 64, generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids, images=images, image_sizes=[(150, 100)]).loss
    assert abs(float(loss) - r0["losses"][0]) < 1e-4
