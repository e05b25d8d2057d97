"""The demo's assets in one folder: the shapes world, its visual-extraction data, the demo tokenizer
and the tiny random start models.

These assets are also the embedded default of the main commands (`llava.demo.embedded`): the
stage scripts, `llava-datagen run` and `llava-eval` fall back to them when no real data or model is
given.

    ROOT/world        the shapes world (`llava.demo.build`)
    ROOT/tokenizer    the demo word-level tokenizer
    ROOT/llm          tiny Qwen3 on the demo tokenizer (start of S0)
    ROOT/siglip       tiny SigLIP, 96 px, patch 16
    ROOT/reasoner     tiny text-only Qwen3 (the demo reasoner's shape)
    ROOT/llava        a complete LLaVA-NeXT-layout checkpoint (llm + siglip + fresh projector)
    ROOT/datagen      `llava-datagen` output on the world (shapes teacher)
    ROOT/data         one YAML mixture per stage
"""
from __future__ import annotations

from pathlib import Path

import yaml

SHAPES_TEACHER = "llava.demo.scene_teacher:ShapesTeacher"
# Stage-3 mixture around the generated extraction data: a quarter of the captions keeps the generic
# caption prompt alive (Caption+Think asks for it; with a tenth, 78% of objects right) and a tenth of
# the multiple-choice questions keeps the end-to-end baseline's answer format. (Half of each, 250
# steps: the answering statement was exact in 4% of extractions; docs/demo_research.md.)
EXTRACT_MIX_SHARES = (("shapes_captions", "captions.json", "random:25%"),
                      ("shapes_mc_vqa", "vqa_mc.json", "random:10%"))
# The end-to-end baseline's mixture: every training image's questions as multiple choice answered with
# letters (`end_to_end.json`), plus the same share of captions as visual extraction tuning keeps.
END_TO_END_MIX_SHARES = (("shapes_end_to_end", "end_to_end.json", "all"), EXTRACT_MIX_SHARES[0])


def _entries(world_dir: Path, shares) -> list[dict]:
    return [{"name": name, "json_path": str(world_dir / path), "image_folder": str(world_dir),
             "sampling_strategy": strategy} for name, path, strategy in shares]


def _write_mixture(out: str | Path, header: str, datasets: list[dict]) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# {header}\n" + yaml.safe_dump({"datasets": datasets}, sort_keys=False))
    return out


def write_caption_mixture(world_dir: str | Path, out: str | Path) -> Path:
    """The captions mixture (projector pretraining and caption training)."""
    return _write_mixture(out, "Demo captions (the world's canonical descriptions).",
                          _entries(Path(world_dir).resolve(), [("shapes_captions", "captions.json", "all")]))


def write_extract_mixture(datagen_yaml: str | Path, world_dir: str | Path, out: str | Path) -> Path:
    """Visual-extraction tuning mixture: `llava-datagen merge`'s YAML plus captions and MC VQA."""
    generated = yaml.safe_load(Path(datagen_yaml).read_text(encoding="utf-8"))["datasets"]
    return _write_mixture(out, "Demo visual-extraction tuning mixture: llava-datagen output + captions + "
                          "multiple-choice VQA.", generated + _entries(Path(world_dir).resolve(), EXTRACT_MIX_SHARES))


def write_end_to_end_mixture(world_dir: str | Path, out: str | Path) -> Path:
    """The end-to-end baseline's mixture (same images, questions and caption share as extraction tuning)."""
    return _write_mixture(out, "Demo end-to-end baseline mixture: the training images' questions as multiple "
                          "choice + captions.", _entries(Path(world_dir).resolve(), END_TO_END_MIX_SHARES))


def run_datagen(world_dir: str | Path, out_dir: str | Path, progress: bool = False) -> Path:
    """Data generation (the library behind `llava-datagen run` + `merge`) on the world with the
    shapes teacher; returns the merged mixture YAML."""
    from llava.datagen.merge import merge
    from llava.datagen.runner import RunConfig, TeacherSpec, generate
    from llava.datagen.teachers import TeacherOptions

    generate(Path(world_dir) / "datagen.yaml", out_dir, TeacherSpec(SHAPES_TEACHER, TeacherOptions()),
             config=RunConfig(progress=progress))
    merge(out_dir)
    return Path(out_dir) / "final" / "extraction_data.yaml"


def prepare_demo_assets(root: str | Path, train_images: int | None = None, seed: int = 0,
                        progress: bool = False) -> None:
    """Build everything under ``root`` in the layout above (`llava.demo.embedded` keeps the
    completion marker and names the paths)."""
    from llava.demo.build import WorldConfig, build_world
    from llava.demo.models import REASONER_SHAPE, save_demo_llm, save_demo_siglip
    from llava.demo.tokenizer import build_demo_tokenizer
    from llava.model.from_parts import build_perception_model

    root = Path(root)
    defaults = WorldConfig()
    config = WorldConfig(seed=seed, train_images=train_images or defaults.train_images)
    build_world(root / "world", config, progress=progress)
    build_demo_tokenizer(root / "tokenizer")
    save_demo_llm(root / "llm", root / "tokenizer", seed=seed)
    save_demo_siglip(root / "siglip", seed=seed)
    save_demo_llm(root / "reasoner", root / "tokenizer", seed=seed, **REASONER_SHAPE)
    model, tokenizer = build_perception_model(root / "llm", root / "siglip", image_aspect_ratio="anyres_max_9",
                                              torch_dtype="float32", seed=seed)
    model.save_pretrained(root / "llava")
    tokenizer.save_pretrained(root / "llava")
    datagen_yaml = run_datagen(root / "world", root / "datagen", progress=progress)
    write_caption_mixture(root / "world", root / "data" / "tiny_pretrain.yaml")
    write_caption_mixture(root / "world", root / "data" / "tiny_caption.yaml")
    write_extract_mixture(datagen_yaml, root / "world", root / "data" / "tiny_extract.yaml")
