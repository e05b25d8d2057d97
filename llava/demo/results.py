"""The demo's final table: overall and per-question-type accuracy of every system, and its pictures.

    python -m llava.demo.results NAME=RESULTS_DIR [NAME=RESULTS_DIR ...] [--out results.md] [--json results.json]
        [--descriptions CAPTIONS.jsonl] [--extractions EXTRACTIONS.jsonl] --benchmark benchmark.jsonl
        [--runs STAGE=RUN_DIR ...]

With `--out`, `results.png` (accuracy per question type, one bar group per system, chance line) and,
with `--runs`, `losses.png` (each training stage's loss curve) are written next to it and linked.

Each RESULTS_DIR is the ``--results-dir`` of one ``llava-eval`` run and holds exactly one
``*.scores.json`` (the MMStar scorer's output). Question types are the world's l2 categories.
The perception model's stage-1 outputs are checked against the ground truth too: objects fully right
in its generic descriptions and in its extractions, and how often an extraction ends with the exact
statement that answers the question (perception right, whatever the reasoner then does).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from llava.demo import world
from llava.eval.artifacts import read_jsonl

CHANCE = 0.25
# The demo's learning targets for Extract+Think (docs/demo.md); extractions should also get >= 90% of
# the objects right.
TARGET_OVERALL = 0.60
TARGET_PER_TYPE = 0.35  # "clearly above chance"


def find_scores(results_dir: str | Path) -> dict:
    found = sorted(Path(results_dir).rglob("*.scores.json"))
    if len(found) != 1:
        raise SystemExit(f"{results_dir}: expected one *.scores.json written by llava-eval, found {len(found)}"
                         f"{': ' + ', '.join(map(str, found)) if found else ''}")
    return json.loads(found[0].read_text(encoding="utf-8"))


def _fraction(percent: float | None) -> float | None:
    # The MMStar scorer writes percentages (25.0 = 25%).
    return None if percent is None else percent / 100.0


def overall_accuracy(scores: dict) -> float:
    return _fraction(scores["average"])


def type_accuracies(scores: dict) -> dict[str, float | None]:
    """{question type: accuracy in [0, 1]} from the scorer's ``l2_categories`` ("category / l2_category")."""
    l2 = scores.get("l2_categories") or {}
    return {qtype: _fraction(l2.get(f"{category} / {l2_category}"))
            for qtype, (category, l2_category) in world.QUESTION_TYPES.items()}


def results_table(systems: dict[str, dict]) -> str:
    """A markdown table, one row per system: overall then every question type."""
    qtypes = list(world.QUESTION_TYPES)
    head = "| system | overall | " + " | ".join(qtypes) + " | questions |"
    rule = "|" + "---|" * (len(qtypes) + 3)
    rows = [head, rule]
    for name, scores in systems.items():
        per_type = type_accuracies(scores)
        cells = ["-" if per_type[t] is None else f"{per_type[t]:.0%}" for t in qtypes]
        rows.append(f"| {name} | {overall_accuracy(scores):.0%} | " + " | ".join(cells)
                    + f" | {scores.get('num_questions', '?')} |")
    return "\n".join(rows)


def targets_met(scores: dict) -> bool:
    per_type = [v for v in type_accuracies(scores).values() if v is not None]
    return overall_accuracy(scores) >= TARGET_OVERALL and all(v >= TARGET_PER_TYPE for v in per_type)


def description_accuracy(descriptions_jsonl: str | Path, benchmark_jsonl: str | Path) -> dict:
    """How well the perception model's generic descriptions match the ground truth of held-out scenes.

    ``objects``: fraction of ground-truth objects whose entry (``top left: red circle top left;``) appears in
    the description (colour, shape and position all right); ``exact``: fraction of descriptions
    equal to the canonical one.
    """
    truth = {str(row["index"]): (row["description"], world.Scene.from_dict(row["graph"]))
             for row in read_jsonl(benchmark_jsonl)}
    right = total = exact = n = 0
    for row in read_jsonl(descriptions_jsonl):
        if str(row.get("index")) not in truth:
            continue
        gold, scene = truth[str(row["index"])]
        text = (row.get("description") or "").strip()
        n += 1
        exact += text == gold
        for o in scene.objects:
            total += 1
            entry = f"{o.position}: {world.cell_entry(scene, o.row, o.col)}"
            right += (entry + ";") in text or (entry + ".") in text
    return {"objects": right / total if total else 0.0, "exact": exact / n if n else 0.0,
            "descriptions": n}


def statement_accuracy(extractions_jsonl: str | Path, benchmark_jsonl: str | Path) -> dict:
    """Fraction of extractions whose last sentence is the ground-truth statement of the question,
    overall and per question type."""
    truth = {str(r["index"]): r for r in read_jsonl(benchmark_jsonl)}
    hits: dict[str, list[bool]] = {}
    for row in read_jsonl(extractions_jsonl):
        gold = truth.get(str(row.get("index")))
        if gold is None:
            continue
        text = (row.get("description") or "").strip()
        hits.setdefault(gold["question_type"], []).append(text.endswith(gold["statement"]))
    every = [h for v in hits.values() for h in v]
    return {"overall": sum(every) / len(every) if every else 0.0,
            "per_type": {t: sum(v) / len(v) for t, v in hits.items()}, "extractions": len(every)}


def summary(systems: dict[str, dict]) -> dict:
    """Machine-readable accuracies (fractions) of every system, for tests and scripts."""
    return {name: {"overall": overall_accuracy(scores), "per_type": type_accuracies(scores),
                   "questions": scores.get("num_questions")} for name, scores in systems.items()}


def write_report(lines: list[str], record: dict, markdown: str | None, json_path: str | None) -> None:
    """Print the report; also write it as markdown and its numbers as JSON where asked."""
    text = "\n".join(lines)
    print(text)
    if markdown:
        Path(markdown).write_text(text + "\n", encoding="utf-8")
    if json_path:
        Path(json_path).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def _pairs(specs: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name or not value:
            raise SystemExit(f"{spec!r}: expected NAME=FOLDER")
        pairs.append((name, value))
    return pairs


def pictures(record: dict, runs: dict[str, str], folder: Path) -> list[str]:
    """results.png (and losses.png when training runs are named) in `folder`; markdown lines linking them."""
    from llava.demo import plots

    try:
        plots.accuracy_png(record["systems"], list(world.QUESTION_TYPES), record["chance"], folder / "results.png")
        lines = ["![accuracy per question type](results.png)"]
        if runs:
            plots.losses_png(runs, folder / "losses.png")
            lines.append("![training loss of each stage](losses.png)")
        return lines
    except ImportError as e:
        return [f"(pictures skipped: {e})"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("systems", nargs="+", help="NAME=RESULTS_DIR, in table order")
    ap.add_argument("--target-system", default=None, help="the system the demo's learning targets apply to")
    ap.add_argument("--out", help="also write the table (markdown) here")
    ap.add_argument("--descriptions", help="llava-eval's generic-description JSONL (Caption+Think stage 1)")
    ap.add_argument("--extractions", help="llava-eval's question-specific extraction JSONL (Extract+Think stage 1)")
    ap.add_argument("--benchmark", help="the world's benchmark.jsonl (ground-truth descriptions)")
    ap.add_argument("--json", help="also write every number as JSON here")
    ap.add_argument("--runs", nargs="*", default=[], help="STAGE=RUN_DIR training runs for losses.png")
    ap.add_argument("--seed", type=int, help="the run's seed (recorded for the multi-seed summary)")
    args = ap.parse_args(argv)
    systems = {name: find_scores(directory) for name, directory in _pairs(args.systems)}
    table = results_table(systems)
    lines = [table, "", f"chance = {CHANCE:.0%} per question type (4 options, letters balanced)"]
    record = {"systems": summary(systems), "chance": CHANCE, "seed": args.seed}
    if args.descriptions and args.benchmark:
        d = record["captions"] = description_accuracy(args.descriptions, args.benchmark)
        lines.append(f"perception, generic descriptions of {d['descriptions']} held-out images: "
                     f"{d['objects']:.0%} of objects fully right, {d['exact']:.0%} exact")
    if args.extractions and args.benchmark:
        d = record["extractions"] = description_accuracy(args.extractions, args.benchmark)
        st = record["statements"] = statement_accuracy(args.extractions, args.benchmark)
        lines.append(f"perception, question-specific extractions of {d['descriptions']} held-out questions: "
                     f"{d['objects']:.0%} of objects fully right (demo target: 90%); the answering "
                     f"statement exact in {st['overall']:.0%} ("
                     + ", ".join(f"{t} {v:.0%}" for t, v in st["per_type"].items()) + ")")
    target = args.target_system
    if target:
        if target not in systems:
            raise SystemExit(f"--target-system {target!r} is not one of {sorted(systems)}")
        record["target_system"], record["targets_met"] = target, targets_met(systems[target])
        if targets_met(systems[target]):
            lines.append(f"demo learning targets met by {target} (>= {TARGET_OVERALL:.0%} overall, "
                         f"every type >= {TARGET_PER_TYPE:.0%})")
        else:
            weak = [f"{t} {v:.0%}" for t, v in type_accuracies(systems[target]).items()
                    if v is not None and v < TARGET_PER_TYPE]
            lines.append(f"{target} is below the demo targets (>= {TARGET_OVERALL:.0%} overall, every type >= "
                         f"{TARGET_PER_TYPE:.0%}): {overall_accuracy(systems[target]):.0%} overall"
                         + (f"; {', '.join(weak)}" if weak else "")
                         + " (runs differ by seed and machine: see SEEDS in docs/demo.md)")
    if args.out:
        lines += ["", *pictures(record, dict(_pairs(args.runs)), Path(args.out).parent)]
    write_report(lines, record, args.out, args.json)


if __name__ == "__main__":
    main()
