import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny matmuls: with 2 OpenMP threads on a busy 2-core machine every call pays a thread handshake
# (measured 2.7 ms vs 0.03 ms per linear at batch 8); one thread keeps the tests fast.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_reasoner(tmp_path_factory):
    """A tiny random Qwen3 causal LM with the tiny Qwen3 tokenizer, saved to a folder."""
    from tiny_models import build_tiny_qwen3_lm

    return build_tiny_qwen3_lm(tmp_path_factory.mktemp("tiny_reasoner"))


@pytest.fixture(scope="session")
def reasoner_fp32(tiny_reasoner):
    from llava.eval.text_generation import load_causal_lm

    return load_causal_lm(str(tiny_reasoner), dtype="fp32", device="cpu")


@pytest.fixture(scope="session")
def tiny_perception(tmp_path_factory):
    """(LLaVA-NeXT checkpoint folder, transformers-native export folder) of one tiny model."""
    from tiny_models import build_tiny_perception_pair

    return build_tiny_perception_pair(tmp_path_factory.mktemp("tiny_perception"))


@pytest.fixture()
def mc_benchmark(tmp_path):
    """A generic-format benchmark of 6 questions with images of different sizes, 2 categories."""
    import json

    from PIL import Image

    (tmp_path / "imgs").mkdir()
    rows = []
    for i in range(6):
        Image.new("RGB", (40 + 23 * i, 30 + 11 * i), (40 * i, 255 - 40 * i, 90)).save(tmp_path / "imgs" / f"{i}.png")
        rows.append({"index": f"q{i}", "question": "What colour is the " + "big " * i + "shape?",
                     "options": ["red", "green", "blue", "white"], "answer": "ABCD"[i % 4],
                     "category": "colour" if i < 3 else "shape", "l2_category": f"l2-{i % 2}",
                     "image": f"imgs/{i}.png"})
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
