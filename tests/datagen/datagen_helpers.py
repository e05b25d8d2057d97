"""Helpers for the data-generation tests: small VQA data sets and CLI calls."""
from __future__ import annotations

import json
from pathlib import Path

from llava.datagen.cli import main as datagen_main

# Small generation limits keep the tiny teacher fast; the defaults are checked separately.
FAST_LIMITS = ["--max-new-tokens-statements", "8", "--max-new-tokens-describe", "8", "--max-new-tokens-focus", "8"]


def scene_of(k: int) -> dict:
    return {"description": f"Scene {k}: a red circle at the top left and a blue square at the bottom right.",
            "statements": {"What colour is the circle?": "The circle is red."}}


def make_vqa(root: Path, num_images: int = 6, corrupt: bool = False, extras: bool = True,
             name: str = "toy") -> Path:
    """A LLaVA-format JSONL + image folder + dataset-list YAML under `root`; returns the YAML path.

    Image k gets one or two samples (multi-turn for even k); with `extras`, the file also holds a
    sample without an image and one malformed line, which must be skipped and counted.
    """
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    images = root / "images"
    (images / "sub").mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(num_images):
        rel = f"sub/img{k}.png" if k % 3 == 0 else f"img{k}.png"
        Image.new("RGB", (40 + 12 * k, 30 + 7 * k), (30 * k % 255, 90, 200 - 20 * k)).save(images / rel)
        turns = [{"from": "human", "value": "<image>\nWhat colour is the circle?"}, {"from": "gpt", "value": "red"}]
        if k % 2 == 0:
            turns += [{"from": "human", "value": f"How many objects are there in picture {k}?"},
                      {"from": "gpt", "value": str(k + 2)}]
        lines.append({"id": f"{name}-{k}", "image": rel, "conversations": turns, "scene": scene_of(k)})
        if k == 1:  # a second sample of the same image: merged into the same item
            lines.append({"id": f"{name}-{k}b", "image": rel, "conversations": [
                {"from": "human", "value": "<image>\nIs there text in the image?"}, {"from": "gpt", "value": "no"}]})
    if corrupt:
        (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
        lines.append({"id": f"{name}-broken", "image": "broken.png", "scene": scene_of(99), "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the circle?"}, {"from": "gpt", "value": "green"}]})
    text = "".join(json.dumps(line) + "\n" for line in lines)
    if extras:
        text += json.dumps({"id": "text-only", "conversations": [
            {"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]}) + "\n"
        text += '{"id": "cut", "image": "img0.png", "conversations": [\n'
    (root / f"{name}.jsonl").write_text(text, encoding="utf-8")
    yaml_path = root / "datasets.yaml"
    yaml_path.write_text(f"datasets:\n  - name: {name}\n    json_path: {name}.jsonl\n    image_folder: images\n",
                         encoding="utf-8")
    return yaml_path


def run_cli(*args: str) -> int:
    return datagen_main([str(a) for a in args])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
