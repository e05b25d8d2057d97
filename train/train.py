"""Thin wrapper: `python train/train.py ARGS` == `llava-train ARGS` (see llava/train/train.py)."""
import sys

from llava.train.train import main

if __name__ == "__main__":
    sys.exit(main())
