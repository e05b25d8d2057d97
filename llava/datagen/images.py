"""Teacher images: decoded, RGB, resized to a square (512x512 in the paper)."""
from __future__ import annotations

from pathlib import Path

DEFAULT_IMAGE_SIZE = 512


class ImageLoadError(ValueError):
    pass


def load_teacher_image(image_folder: Path, relative_path: str, size: int = DEFAULT_IMAGE_SIZE):
    """Open and fully decode the image (truncated files fail here, not inside the teacher)."""
    from PIL import Image

    path = Path(image_folder) / relative_path
    if not path.is_file():
        raise ImageLoadError(f"image {path} does not exist (check the dataset's image_folder)")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"cannot read image {path}: {exc}") from exc
