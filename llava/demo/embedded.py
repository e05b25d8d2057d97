"""The embedded tiny default of the main commands: the demo's shapes world and tiny random models.

Registered as the provider of `llava.embedded_default` (setup.py), which is how the commands reach
it. `prepare(root)` builds the assets once (`llava.demo.assets.prepare_demo_assets`: world,
datagen output, tokenizer, tiny Qwen3 / SigLIP / reasoner, a start checkpoint, one mixture per
stage) and reuses them while their version and size match. The world has the demo's 6000 training
images unless LLAVA_TINY_TRAIN_IMAGES says otherwise (the tests use a few dozen).

The folder is the project's only if it made it: a new or empty folder is claimed with an ownership
marker; a non-empty folder without one is refused, never emptied. A rebuild replaces only the
entries the builder writes, so outputs kept next to them (runs/, eval/, ...) survive.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from llava.embedded_default import EmbeddedDefault
from llava.utils.folder_lock import FolderLock

VERSION = "8-demo"  # the world gained end_to_end.json
OWNER_MARKER = ".llava-embedded-default"  # written first into a folder this module claims
COMPLETE_MARKER = ".complete"             # written last: "<VERSION> <train images>"
BUILT_ENTRIES = ("world", "tokenizer", "llm", "siglip", "reasoner", "llava", "datagen", "data", COMPLETE_MARKER)
# Generation limits for the tiny models (a thinking trace of the world is ~26 tokens).
EVAL_LIMITS = {"perception_max_new_tokens": 96, "budget": 48, "max_new_tokens": 64}


def assets_at(root: Path) -> EmbeddedDefault:
    from llava.demo.assets import SHAPES_TEACHER
    from llava.demo.build import REASONER_PROMPTS

    world = root / "world"
    return EmbeddedDefault(
        root=root, world=world, llm=root / "llm", vision_tower=root / "siglip", checkpoint=root / "llava",
        reasoner=root / "reasoner", data_pretrain=root / "data" / "tiny_pretrain.yaml",
        data_caption=root / "data" / "tiny_caption.yaml", data_extract=root / "data" / "tiny_extract.yaml",
        data_reasoner=world / "reasoner.json", datagen_sources=world / "datagen.yaml", datagen_backend=SHAPES_TEACHER,
        benchmark=world / "mmstar" / "mmstar.parquet", focus_file=world / "focus.json",
        oracle_descriptions=world / "oracle_extractions.jsonl", reasoner_prompts=REASONER_PROMPTS,
        eval_limits=dict(EVAL_LIMITS))


def _train_images() -> int:
    from llava.demo.build import WorldConfig

    return int(os.environ.get("LLAVA_TINY_TRAIN_IMAGES") or WorldConfig().train_images)


def _complete(root: Path, images: int) -> bool:
    marker = root / COMPLETE_MARKER
    return marker.is_file() and marker.read_text().split() == [VERSION, str(images)]


def _claim(root: Path) -> None:
    """Make `root` ours, or refuse: a folder with anything in it that we did not mark is the user's."""
    owned = (root / OWNER_MARKER).is_file() or (root / COMPLETE_MARKER).is_file()
    if root.is_dir() and not owned and any(root.iterdir()):
        raise ValueError(f"TINY_DIR {root} is not empty and was not created by the embedded default (no "
                         f"{OWNER_MARKER} in it); nothing was changed. Point TINY_DIR at a new or empty folder.")
    if root.exists() and not root.is_dir():
        raise ValueError(f"TINY_DIR {root} is a file; point TINY_DIR at a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    (root / OWNER_MARKER).write_text("built by llava's embedded default; its builder may replace: "
                                     + " ".join(BUILT_ENTRIES) + "\n")


def prepare(root: Path) -> EmbeddedDefault:
    """Build the assets under `root` unless a complete build of this version and size is there."""
    from llava.demo.assets import prepare_demo_assets

    root = Path(root).expanduser().absolute()
    images = _train_images()
    if _complete(root, images):
        return assets_at(root)
    _claim(root)
    with FolderLock(root, ".build.lock").acquire(wait=True):  # a second builder waits, then reuses
        if not _complete(root, images):
            for name in BUILT_ENTRIES:  # a half-written earlier attempt, or another version or size
                path = root / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            prepare_demo_assets(root, train_images=images)
            (root / COMPLETE_MARKER).write_text(f"{VERSION} {images}\n")  # last: a killed build is redone
    return assets_at(root)
