#!/usr/bin/env python
"""Items/s of the data-generation pipeline at batch size 1 vs the default batch size, in one run.

    python scripts/datagen/bench_batching.py                      # tiny random Qwen3-VL teacher, CPU
    python scripts/datagen/bench_batching.py --model Qwen/Qwen3-VL-8B-Instruct --items 64 \\
        --max-new-tokens 256                                      # the real teacher (GPU)

Runs the real pipeline (`llava.datagen.runner.run_shard`, hf backend) on the same synthetic VQA
items once per batch size, with the teacher loaded once beforehand (model loading is not timed),
and prints a markdown table of items/s per step. The tiny teacher's random weights rarely emit an
end-of-sequence token, so every answer runs to --max-new-tokens; a real teacher's answers vary in
length, which costs batching some efficiency (padding to the longest answer of a batch).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from llava.datagen import steps as S
from llava.datagen.runner import RunConfig, TeacherSpec, run_shard
from llava.datagen.sources import collect_items, load_dataset_list
from llava.datagen.teachers import Teacher, TeacherOptions, build_teacher, register_teacher
from llava.prompts import PromptSet

QUESTIONS = ["What colour is the {s}?", "How many objects are in the image?", "Where is the {s}?",
             "Is the {s} larger than the other shapes?", "What is written in the image?"]
SHAPES = ["circle", "square", "triangle"]


class _Shared(Teacher):
    """Hands the preloaded teacher to every run; closing is left to the benchmark."""

    teacher: Teacher | None = None

    @classmethod
    def from_options(cls, options):
        return cls()

    def generate_text(self, prompts, max_new_tokens, contexts=None):
        return self.teacher.generate_text(prompts, max_new_tokens, contexts)

    def generate_with_images(self, prompts, images, max_new_tokens, contexts=None):
        return self.teacher.generate_with_images(prompts, images, max_new_tokens, contexts)


def make_items(root: Path, count: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True)
    lines = []
    for k in range(count):
        image = Image.new("RGB", (rng.randint(200, 800), rng.randint(200, 800)), "white")
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y = rng.randint(0, image.width - 60), rng.randint(0, image.height - 60)
            draw.ellipse((x, y, x + 50, y + 50), fill=tuple(rng.randint(0, 255) for _ in range(3)))
        image.save(root / "images" / f"{k}.png")
        questions = rng.sample(QUESTIONS, rng.randint(1, 3))
        turns = []
        for q in questions:
            turns += [{"from": "human", "value": q.format(s=rng.choice(SHAPES))},
                      {"from": "gpt", "value": rng.choice(["red", "two", "on the left", "yes", "STOP"])}]
        turns[0]["value"] = "<image>\n" + turns[0]["value"]
        lines.append(json.dumps({"id": str(k), "image": f"{k}.png", "conversations": turns}))
    (root / "vqa.jsonl").write_text("\n".join(lines) + "\n")
    (root / "datasets.yaml").write_text("datasets:\n  - name: bench\n    json_path: vqa.jsonl\n    image_folder: images\n")
    return root / "datasets.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="teacher folder or hub id (default: build the tiny teacher)")
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--max-new-tokens", type=int, default=16, help="for every step (the paper: 1024/2048)")
    parser.add_argument("--steps", nargs="+", default=list(S.STEPS), choices=S.STEPS)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per batch size, interleaved; the fastest counts (shared machines are noisy)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from llava.tiny.qwen3_vl import build_tiny_qwen3_vl

            model = str(build_tiny_qwen3_vl(tmp / "tiny-qwen3-vl"))
        specs = load_dataset_list(make_items(tmp / "data", args.items))
        items, report = collect_items(specs)
        options = TeacherOptions(model=model, dtype=args.dtype)
        _Shared.teacher = build_teacher("hf", options)
        register_teacher("bench-shared", _Shared)
        spec = TeacherSpec("bench-shared", options)
        seconds: dict[tuple[str, int], float] = {}
        for repeat in range(args.repeats):
            for batch_size in args.batch_sizes:
                config = RunConfig(steps=tuple(args.steps), batch_size=batch_size, progress=False,
                                   max_new_tokens={step: args.max_new_tokens for step in S.STEPS})
                summaries = run_shard(items, report, specs, tmp / f"out_bs{batch_size}_{repeat}", 0, 1, spec, None,
                                      PromptSet(), config)
                times = {s.step: s.seconds for s in summaries}
                times["all steps"] = sum(times.values())
                for step, t in times.items():
                    seconds[(step, batch_size)] = min(t, seconds.get((step, batch_size), float("inf")))
        rates = {key: len(items) / t for key, t in seconds.items()}

    import torch

    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    name = args.model or "tiny random Qwen3-VL (llava.tiny.qwen3_vl)"
    print(f"\nTeacher: {name}; {len(items)} items; max {args.max_new_tokens} new tokens per answer; device: {device}; "
          f"best of {args.repeats} interleaved runs; load average at the end: {os.getloadavg()[0]:.1f}\n")
    base, *others = args.batch_sizes
    header = f"| step | batch {base}: items/s |" + "".join(f" batch {b}: items/s | speed-up |" for b in others)
    print(header)
    print("|" + "---|" * (2 + 2 * len(others)))
    for step in [*args.steps, "all steps"]:
        row = f"| {step} | {rates[(step, base)]:.2f} |"
        for b in others:
            row += f" {rates[(step, b)]:.2f} | {rates[(step, b)] / rates[(step, base)]:.1f}x |"
        print(row)


if __name__ == "__main__":
    main()
