import pytest
import torch

from llava.tiny import models as tiny
from model_helpers import random_pil


@pytest.fixture(scope="session")
def tiny_tower_dir(tmp_path_factory):
    return tiny.save_tiny_siglip(tmp_path_factory.mktemp("tower") / "siglip")


@pytest.fixture(scope="session")
def tiny_model(tiny_tower_dir):
    """A tiny Qwen3 + SigLIP LLaVA model in eval mode (fp32); do not modify it in tests."""
    return tiny.build_tiny_llava_model(tiny_tower_dir, "qwen3", seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A saved tiny checkpoint (this package's own save_pretrained)."""
    return tiny.build_tiny_llava_checkpoint(tmp_path_factory.mktemp("saved") / "ckpt")


@pytest.fixture
def make_image():
    return random_pil


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
