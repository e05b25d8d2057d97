"""Small helpers shared by the model tests (a uniquely named module: every test folder has a conftest)."""
import numpy as np
from PIL import Image


def random_pil(width, height, seed=0):
    """A random RGB image of the given PIL size (width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))
