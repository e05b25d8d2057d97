"""The embedded tiny default of the main commands: the demo's shapes world and tiny random models.

`python -m llava.train.tiny_assets DIR` builds (once; reused afterwards) the demo's assets under DIR
(`llava.demo.assets`: world, datagen output, demo tokenizer, tiny Qwen3 / SigLIP / reasoner, a
complete LLaVA-NeXT-layout start checkpoint, one YAML mixture per stage) and prints `KEY=value`
lines for the shell scripts. The world has the demo's 2000 training images unless
LLAVA_TINY_TRAIN_IMAGES says otherwise (the tests use a few dozen). Nothing here is a real model:
every command that falls back to it says so loudly in its first log line.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
from pathlib import Path

VERSION = "7-demo"  # scripts/zero3/common.sh reads this layout directly when the marker says so
BANNER = ("!!!!!!!!!! TINY EMBEDDED DEFAULT: {what} is configured, so this runs the demo's TINY RANDOM "
          "models on its TINY SYNTHETIC shapes world (assets in {root}). This is a smoke test, NOT a real "
          "run. {fix} !!!!!!!!!!")


def default_root() -> Path:
    return Path(os.environ.get("TINY_DIR") or Path(os.environ.get("TMPDIR", "/tmp")) / "llava_tiny_default")


def tiny_paths(root: str | os.PathLike) -> dict[str, Path]:
    root = Path(root)
    return {
        "TINY_LLM": root / "llm",
        "TINY_VISION_TOWER": root / "siglip",
        "TINY_CHECKPOINT": root / "llava",
        "TINY_REASONER": root / "reasoner",
        "TINY_WORLD": root / "world",
        "TINY_DATA_PRETRAIN": root / "data" / "tiny_pretrain.yaml",
        "TINY_DATA_CAPTION": root / "data" / "tiny_caption.yaml",
        "TINY_DATA_EXTRACT": root / "data" / "tiny_extract.yaml",
        "TINY_DATA_REASONER": root / "world" / "reasoner.json",
    }


def _built_images(root: Path) -> int | None:
    try:
        return json.loads((root / "world" / "world.json").read_text())["train_images"]
    except (OSError, ValueError, KeyError):
        return None


def prepare_tiny_assets(root: str | os.PathLike | None = None) -> dict[str, str]:
    from llava.demo.build import WorldConfig

    root = Path(root) if root is not None else default_root()
    marker = root / ".complete"
    images = int(os.environ.get("LLAVA_TINY_TRAIN_IMAGES") or WorldConfig().train_images)
    if not (marker.is_file() and marker.read_text().strip() == VERSION and _built_images(root) == images):
        from llava.demo.assets import prepare_demo_assets

        shutil.rmtree(root, ignore_errors=True)  # a half-written earlier attempt, or another size
        prepare_demo_assets(root, train_images=images)
        marker.write_text(VERSION)  # last: a killed build is redone next time
    return {k: str(v) for k, v in tiny_paths(root).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    args = parser.parse_args(argv)
    for key, value in prepare_tiny_assets(args.directory).items():
        print(f"{key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
