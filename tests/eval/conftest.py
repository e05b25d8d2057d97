import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_reasoner(tmp_path_factory):
    """A tiny random Qwen3 causal LM with the tiny Qwen3 tokenizer, saved to a folder."""
    from tiny_models import build_tiny_qwen3_lm

    return build_tiny_qwen3_lm(tmp_path_factory.mktemp("tiny_reasoner"))


@pytest.fixture(scope="session")
def reasoner_fp32(tiny_reasoner):
    from llava.eval.text_generation import load_causal_lm

    return load_causal_lm(str(tiny_reasoner), dtype="fp32", device="cpu")
