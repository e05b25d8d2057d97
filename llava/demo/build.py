"""Write a shapes world to a folder: images, VQA input, captions, benchmark, reasoner data.

    python -m llava.demo.build OUT_DIR [--seed 0] [--train-images 6000] [--per-type 20]

Layout of OUT_DIR (paths inside JSON files are relative to OUT_DIR):

- ``images/``            PNG images (``train_*`` for training, ``bench_*`` for the benchmark)
- ``scenes.jsonl``       one scene graph per image, with its canonical description
- ``vqa.json``           LLaVA-format open-ended VQA (the data-generation input); each sample's
                         ``scene`` key holds the ground truth the scene teacher answers from
- ``captions.json``      LLaVA-format generic captions (projector pretraining, caption training)
- ``reasoner.json``      text-only LLaVA-format reasoning samples (the demo's reasoning prompt,
                         ``reasoner_prompts.yaml`` -> thinking trace -> ``Answer: X``), on
                         ground-truth extraction-style descriptions of fresh scenes
- ``vqa_mc.json``        LLaVA-format multiple-choice VQA on the training images, in the
                         end-to-end baseline's prompt (MMStar question + lmms-eval's post-prompt),
                         one question per image (types cycling); a tenth of it joins the
                         extraction mixture
- ``end_to_end.json``    the end-to-end baseline's training data: every image's ``vqa.json``
                         questions as multiple choice, answered with their letters
- ``mmstar/mmstar.parquet``  the held-out benchmark in MMStar's layout (``--benchmark mmstar``)
- ``benchmark.jsonl``    the same questions with image paths, focus, question type and the
                         ground-truth description (for reading and per-type tables)
- ``focus.json``         ``{index: contents to observe}`` (stage 0 in the authors' format)
- ``oracle_extractions.jsonl``  the ground-truth extraction of every benchmark question (what a
                         perfect perception model writes), for ``llava-eval reason --descriptions``:
                         the reasoner's accuracy with perception taken out of the way
- ``datagen.yaml``       the dataset list for ``llava-datagen run --datasets``
- ``world.json``         the settings this folder was built with
"""
from __future__ import annotations

import argparse
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from llava.demo import world
from llava.eval.perception import DIRECT_ANSWER_SUFFIX
from llava.prompts import PromptSet, load_prompt_overrides

# The demo reasoner's stage-2 prompt (also what the demo passes to llava-eval --prompts).
REASONER_PROMPTS = Path(__file__).with_name("reasoner_prompts.yaml")


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    # One extraction question per image: with 2000 images the 900-step extraction stage saw each ~10
    # times, fitted them (loss 0.03) and wrote held-out position/relation statements exactly in only
    # 15% / 5%; with 6000, 90% / 95% (docs/demo_research.md, 2026-12-04).
    train_images: int = 6000
    questions_per_image: int = 3       # at most; 1..3 per image, so single-question focus is common
    per_type: int = 20                 # benchmark questions per question type
    reasoner_samples: int = 20000
    # Reasoner samples whose description is extraction-style (ends with the question's statement);
    # the rest get the generic description, which the tiny reasoner cannot answer from.
    extraction_fraction: float = 1.0
    text_prob: float = 0.5
    image_size: int = world.IMAGE_SIZE


def thinking_target(item: world.MCItem) -> str:
    """The reasoner's answer: a short thinking trace, then the letter on the last line."""
    return f"<think>\n{item.thinking()}\n</think>\n\nAnswer: {item.letter}"


def reasoner_sample(item: world.MCItem, description: str, prompts: PromptSet, sample_id: str) -> dict:
    return {"id": sample_id, "conversations": [
        {"from": "human", "value": prompts.reasoning_prompt(description, item.mmstar_question, thinking=True)},
        {"from": "gpt", "value": thinking_target(item)},
    ]}


def _mc_turns(item: world.MCItem, with_image: bool) -> list[dict]:
    """A multiple-choice question answered with its letter, in the end-to-end baseline's prompt."""
    return [{"from": "human", "value": ("<image>\n" if with_image else "") + item.mmstar_question
             + DIRECT_ANSWER_SUFFIX},
            {"from": "gpt", "value": item.letter}]


def mc_vqa_sample(item: world.MCItem, image: str, sample_id: str) -> dict:
    return {"id": sample_id, "image": image, "conversations": _mc_turns(item, with_image=True)}


def _save_png(img, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")


def _image_questions(scene: world.Scene, rng: random.Random, k: int) -> list[world.Question]:
    """Up to ``k`` distinct questions of random types the scene supports."""
    types = [t for t in world.QUESTION_TYPES if t != "text" or scene.text is not None]
    questions = []
    for qtype in rng.sample(types, len(types)):
        q = world.ask(scene, qtype, rng)
        if q is not None and all(q.text != other.text for other in questions):
            questions.append(q)
        if len(questions) == k:
            break
    return questions


def _vqa_sample(scene: world.Scene, image: str, questions: list[world.Question]) -> dict:
    conversations = []
    for i, q in enumerate(questions):
        conversations.append({"from": "human", "value": ("<image>\n" if i == 0 else "") + q.text})
        conversations.append({"from": "gpt", "value": q.answer})
    return {
        "id": scene.id, "image": image, "conversations": conversations,
        "scene": {"description": world.describe(scene),
                  "statements": {q.text: q.statement for q in questions},
                  "focus": {q.text: q.focus for q in questions},
                  "graph": scene.to_dict()},
    }


def end_to_end_sample(scene: world.Scene, image: str, questions: list[world.Question], rng: random.Random,
                      first_letter: int) -> dict:
    """The image's questions as multiple choice answered with their letters, one turn each: the same
    images and questions visual extraction tuning learns from, in the end-to-end baseline's format."""
    conversations = []
    for i, q in enumerate(questions):
        options, letter = world.make_choice(scene, q, world.LETTERS[(first_letter + i) % 4], rng)
        conversations += _mc_turns(world.MCItem(0, scene, q, options, letter), with_image=i == 0)
    return {"id": f"{scene.id}_e2e", "image": image, "conversations": conversations}


def _training_split(out: Path, config: WorldConfig, prompts: PromptSet, progress: bool) -> dict[str, list]:
    """Training images with their scene graphs, open-ended VQA (datagen input), captions and
    multiple-choice VQA."""
    from tqdm import tqdm

    data = {"scenes": [], "vqa": [], "captions": [], "vqa_mc": [], "end_to_end": []}
    for n in tqdm(range(config.train_images), desc="world: training images", disable=not progress):
        scene = world.make_scene(config.seed, "train", n, text_prob=config.text_prob)
        image = f"images/{scene.id}.png"
        _save_png(world.render(scene, config.image_size), out / image)
        description = world.describe(scene)
        data["scenes"].append({"id": scene.id, "split": "train", "image": image, "description": description,
                               "graph": scene.to_dict()})
        vqa_rng = world._rng(config.seed, "train", n, "vqa")
        questions = _image_questions(scene, vqa_rng, vqa_rng.randint(1, config.questions_per_image))
        data["vqa"].append(_vqa_sample(scene, image, questions))
        data["end_to_end"].append(end_to_end_sample(scene, image, questions,
                                                    world._rng(config.seed, "train", n, "end_to_end"), 3 * n))
        data["captions"].append({"id": scene.id, "image": image, "conversations": [
            {"from": "human", "value": "<image>\n" + prompts.caption_prompt},
            {"from": "gpt", "value": description}]})
        # One multiple-choice question per image: types cycle (the next one the scene supports),
        # letters cycle, so both stay close to balanced.
        qtypes = list(world.QUESTION_TYPES)
        for k in range(len(qtypes)):
            mc = world.make_mc(config.seed, "train", n, qtypes[(n + k) % len(qtypes)], world.LETTERS[n % 4],
                               config.text_prob, scene=scene)
            if mc is not None:
                data["vqa_mc"].append(mc_vqa_sample(mc, image, f"{scene.id}_mc"))
                break
    return data


def _benchmark_split(out: Path, config: WorldConfig, progress: bool) -> dict:
    """The held-out benchmark: MMStar-layout rows, the annotated rows, focus and ground-truth extractions."""
    from tqdm import tqdm

    items = world.benchmark_items(config.seed + 1_000_003, config.per_type, text_prob=config.text_prob)
    data = {"scenes": [], "benchmark": [], "parquet": [], "focus": {}, "oracle": []}
    for item in tqdm(items, desc="world: benchmark", disable=not progress):
        scene = item.scene
        scene.id = f"bench_{item.index:05d}"
        image = f"images/{scene.id}.png"
        img = world.render(scene, config.image_size)
        _save_png(img, out / image)
        qtype = item.question.qtype
        category, l2 = world.QUESTION_TYPES[qtype]
        row = {"index": item.index, "question": item.mmstar_question, "answer": item.letter,
               "category": category, "l2_category": l2}
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        data["parquet"].append({**row, "image": {"bytes": buf.getvalue(), "path": image},
                                "meta_info": {"source": "shapes-world", "split": "bench", "image_path": image}})
        data["benchmark"].append({**row, "image": image, "question_type": qtype, "focus": item.question.focus,
                                  "description": world.describe(scene), "statement": item.question.statement,
                                  "thinking": item.thinking(), "graph": scene.to_dict()})
        data["focus"][str(item.index)] = item.question.focus
        data["oracle"].append({"index": str(item.index),
                               "description": world.extraction_description(scene, [item.question.statement])})
        data["scenes"].append({"id": scene.id, "split": "bench", "image": image,
                               "description": world.describe(scene), "graph": scene.to_dict()})
    return data


def _reasoner_data(config: WorldConfig, reasoner_prompts: PromptSet, progress: bool) -> list[dict]:
    """Text-only reasoner samples: a description (generic or extraction), a question, a thinking trace."""
    from tqdm import tqdm

    reasoner = []
    rng = random.Random(f"shapes/{config.seed}/reasoner")
    qtypes = list(world.QUESTION_TYPES)
    for n in tqdm(range(config.reasoner_samples), desc="world: reasoner data", disable=not progress):
        item = world.make_mc(config.seed, "reason", n, rng.choice(qtypes), rng.choice(world.LETTERS),
                             config.text_prob)
        if rng.random() < config.extraction_fraction:
            description = world.extraction_description(item.scene, [item.question.statement])
        else:
            description = world.describe(item.scene)
        reasoner.append(reasoner_sample(item, description, reasoner_prompts, f"reason_{n:06d}"))
    return reasoner


def build_world(out_dir: str | Path, config: WorldConfig = WorldConfig(), prompts: PromptSet | None = None,
                progress: bool = True, reasoner_prompts: PromptSet | None = None) -> dict:
    """Generate the world into ``out_dir``; returns a summary (counts per file).

    ``prompts``: the paper's prompts (captions); ``reasoner_prompts``: the stage-2 prompt of the
    reasoner data (default: the demo's ``reasoner_prompts.yaml``).
    """
    prompts = prompts or PromptSet()
    reasoner_prompts = reasoner_prompts or load_prompt_overrides(REASONER_PROMPTS)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    train = _training_split(out, config, prompts, progress)
    bench = _benchmark_split(out, config, progress)
    reasoner = _reasoner_data(config, reasoner_prompts, progress)

    _write_jsonl(out / "scenes.jsonl", train["scenes"] + bench["scenes"])
    _write_jsonl(out / "benchmark.jsonl", bench["benchmark"])
    _write_jsonl(out / "oracle_extractions.jsonl", bench["oracle"])
    for name, data in (("vqa.json", train["vqa"]), ("captions.json", train["captions"]), ("reasoner.json", reasoner),
                       ("vqa_mc.json", train["vqa_mc"]), ("end_to_end.json", train["end_to_end"]),
                       ("focus.json", bench["focus"])):
        (out / name).write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    _write_mmstar_parquet(out / "mmstar" / "mmstar.parquet", bench["parquet"])
    (out / "datagen.yaml").write_text(
        "# Data-generation input: llava-datagen run --datasets THIS_FILE "
        "--backend llava.demo.scene_teacher:ShapesTeacher ...\n"
        "datasets:\n  - name: shapes\n    json_path: vqa.json\n    image_folder: .\n", encoding="utf-8")
    summary = {"config": vars(config) if hasattr(config, "__dict__") else {}, "train_images": len(train["vqa"]),
               "mc_vqa_samples": len(train["vqa_mc"]), "end_to_end_samples": len(train["end_to_end"]),
               "benchmark_questions": len(bench["benchmark"]), "reasoner_samples": len(reasoner),
               "question_types": {t: list(c) for t, c in world.QUESTION_TYPES.items()}}
    (out / "world.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_mmstar_parquet(path: Path, rows: list[dict]) -> None:
    """MMStar's columns and types (``image`` as a `datasets` Image feature), so the MMStar loader reads it."""
    import datasets

    features = datasets.Features({
        "index": datasets.Value("int64"), "question": datasets.Value("string"),
        "image": datasets.Image(), "answer": datasets.Value("string"),
        "category": datasets.Value("string"), "l2_category": datasets.Value("string"),
        "meta_info": {"source": datasets.Value("string"), "split": datasets.Value("string"),
                      "image_path": datasets.Value("string")},
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))


def main(argv: list[str] | None = None) -> None:
    defaults = WorldConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--train-images", type=int, default=defaults.train_images)
    ap.add_argument("--per-type", type=int, default=defaults.per_type)
    ap.add_argument("--reasoner-samples", type=int, default=defaults.reasoner_samples)
    ap.add_argument("--text-prob", type=float, default=defaults.text_prob)
    ap.add_argument("--questions-per-image", type=int, default=defaults.questions_per_image)
    args = ap.parse_args(argv)
    for flag in ("train_images", "per_type", "questions_per_image"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    config = WorldConfig(seed=args.seed, train_images=args.train_images, per_type=args.per_type,
                         reasoner_samples=args.reasoner_samples, text_prob=args.text_prob,
                         questions_per_image=args.questions_per_image)
    summary = build_world(args.out_dir, config)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))


if __name__ == "__main__":
    main()
