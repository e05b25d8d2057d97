"""The embedded tiny default of the stage scripts: tiny random models and tiny data, built offline.

`python -m llava.train.tiny_assets DIR` writes (once; reused afterwards)
  DIR/llm         a tiny Qwen3 language model + tokenizer        (start of S0)
  DIR/siglip      a tiny SigLIP vision tower + image processor
  DIR/llava       a complete tiny LLaVA-NeXT-layout checkpoint   (start of later stages;
                  its tower folder is DIR/llava_tower)
  DIR/data        tiny shapes data and one YAML mixture per stage
and prints `KEY=value` lines for the shell scripts. Nothing here is a real model: the scripts say
so loudly when they fall back to it.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
from pathlib import Path

VERSION = "1"  # scripts/zero3/common.sh reads this layout directly when the marker says 1


def prepare_tiny_assets(root: str | os.PathLike) -> dict[str, str]:
    root = Path(root)
    marker = root / ".complete"
    paths = {
        "TINY_LLM": root / "llm",
        "TINY_VISION_TOWER": root / "siglip",
        "TINY_CHECKPOINT": root / "llava",
        "TINY_DATA_PRETRAIN": root / "data" / "tiny_pretrain.yaml",
        "TINY_DATA_CAPTION": root / "data" / "tiny_caption.yaml",
        "TINY_DATA_EXTRACT": root / "data" / "tiny_extract.yaml",
    }
    if not (marker.is_file() and marker.read_text().strip() == VERSION):
        from llava.data.tiny_data import write_tiny_dataset
        from llava.tiny.models import build_tiny_llava_checkpoint, save_tiny_qwen3_llm, save_tiny_siglip

        shutil.rmtree(root, ignore_errors=True)  # a half-written earlier attempt
        save_tiny_qwen3_llm(root / "llm")
        save_tiny_siglip(root / "siglip")
        build_tiny_llava_checkpoint(root / "llava")  # its config points at root/llava_tower
        write_tiny_dataset(root / "data")
        marker.write_text(VERSION)  # last: a killed build is redone next time
    return {k: str(v) for k, v in paths.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    args = parser.parse_args(argv)
    for key, value in prepare_tiny_assets(args.directory).items():
        print(f"{key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
