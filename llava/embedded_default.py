"""The embedded tiny default: what the main commands run on when no real data or model is given.

`llava-datagen run`, `llava-eval` and the stage scripts in scripts/zero3/ fall back to a tiny,
self-contained setup (a synthetic world and tiny random models, built offline in about a minute)
so that every command runs on a fresh machine, and say so loudly in their first log line. The
demo package owns that setup (`llava.demo.embedded` builds and caches it); commands reach it only
through this hook, so the library never imports the demo:

    from llava import embedded_default
    assets = embedded_default.prepare()        # built once under TINY_DIR, reused afterwards
    assets.checkpoint, assets.benchmark, ...

The provider is the function registered under the entry-point group `llava.embedded_default`
(setup.py registers the demo's); `python -m llava.embedded_default DIR` prints the paths as
NUL-terminated `TINY_*=value` records for the shell scripts.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

ENTRY_POINT_GROUP = "llava.embedded_default"
BANNER = ("!!!!!!!!!! TINY EMBEDDED DEFAULT: {what} is configured, so this runs the demo's TINY RANDOM "
          "models on its TINY SYNTHETIC shapes world (assets in {root}). This is a smoke test, NOT a real "
          "run. {fix} !!!!!!!!!!")


@dataclass(frozen=True)
class EmbeddedDefault:
    """Paths of the embedded default's assets (all under `root`) and what the commands need to use them."""

    root: Path
    world: Path                  # the synthetic world: images and data files
    llm: Path                    # plain LLM to start stage 0 from
    vision_tower: Path           # vision tower folder
    checkpoint: Path             # complete LLaVA-NeXT-layout start checkpoint
    reasoner: Path               # text-only causal LM with a chat template
    data_pretrain: Path          # one training mixture per stage
    data_caption: Path
    data_extract: Path
    data_reasoner: Path
    datagen_sources: Path        # `llava-datagen run --datasets`
    datagen_backend: str         # `llava-datagen run --backend` (a deterministic teacher)
    benchmark: Path              # MMStar-layout parquet for `llava-eval --benchmark mmstar --data`
    focus_file: Path             # {index: focus} of the benchmark
    oracle_descriptions: Path    # ground-truth descriptions (`llava-eval reason --descriptions`)
    reasoner_prompts: Path       # prompt overrides the tiny reasoner was trained with (`--prompts`)
    eval_limits: dict = field(default_factory=dict)  # generation limits that suit the tiny models

    def shell_variables(self) -> dict[str, str]:
        """The TINY_* variables scripts/zero3/common.sh reads."""
        return {"TINY_LLM": str(self.llm), "TINY_VISION_TOWER": str(self.vision_tower),
                "TINY_CHECKPOINT": str(self.checkpoint), "TINY_REASONER": str(self.reasoner),
                "TINY_DATA_PRETRAIN": str(self.data_pretrain), "TINY_DATA_CAPTION": str(self.data_caption),
                "TINY_DATA_EXTRACT": str(self.data_extract), "TINY_DATA_REASONER": str(self.data_reasoner)}


def default_root() -> Path:
    """$TINY_DIR, else $TMPDIR/llava_tiny_default (/tmp without TMPDIR)."""
    return Path(os.environ.get("TINY_DIR") or Path(os.environ.get("TMPDIR", "/tmp")) / "llava_tiny_default")


def _provider():
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if not found:
        raise RuntimeError(f"no provider of the embedded default is installed (entry-point group "
                           f"{ENTRY_POINT_GROUP!r}); reinstall the package with `pip install -e .`")
    return found[0].load()


def prepare(root: str | os.PathLike | None = None) -> EmbeddedDefault:
    """Build the embedded default under `root` (default: `default_root()`) unless it is there already."""
    return _provider()(Path(root) if root is not None else default_root())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the embedded tiny default (once) and print its paths as "
                                                 "NUL-terminated TINY_*=value records.")
    parser.add_argument("directory")
    args = parser.parse_args(argv)
    try:
        assets = prepare(args.directory)
    except (OSError, RuntimeError, ValueError) as e:
        print(f"embedded default: error: {e}", file=sys.stderr)
        return 2
    for key, value in assets.shell_variables().items():
        sys.stdout.write(f"{key}={value}\0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
