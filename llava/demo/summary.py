"""Several seeds of the demo in one table: mean and min-max per system and question type.

    python -m llava.demo.summary DEMO_DIR/seed_0 DEMO_DIR/seed_1 ... --out DEMO_DIR/summary.md

Each folder is one `scripts/demo.sh` run (its `results.json`). Writes the markdown table, the same
numbers as JSON (`--json`) and `summary.png` next to `--out` (mean bars, min-max error bars).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from llava.demo import world
from llava.demo.results import write_report


def _stats(values: list[float]) -> dict:
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values), "values": values}


def summarize(runs: dict[str, dict]) -> dict:
    """{"seeds", "systems": {name: {"overall": stats, "per_type": {qtype: stats}}}, "perception": {...}}
    over the runs' `results.json` records (only systems every run has)."""
    records = list(runs.values())
    names = [n for n in records[0]["systems"] if all(n in r["systems"] for r in records)]
    systems = {}
    for name in names:
        per_type = {}
        for qtype in world.QUESTION_TYPES:
            values = [r["systems"][name]["per_type"].get(qtype) for r in records]
            if all(v is not None for v in values):
                per_type[qtype] = _stats(values)
        systems[name] = {"overall": _stats([r["systems"][name]["overall"] for r in records]), "per_type": per_type}
    perception = {}
    for key, field in (("extraction objects right", ("extractions", "objects")),
                       ("caption objects right", ("captions", "objects")),
                       ("answering statement exact", ("statements", "overall"))):
        values = [r.get(field[0], {}).get(field[1]) for r in records]
        if all(v is not None for v in values):
            perception[key] = _stats(values)
    return {"seeds": list(runs), "systems": systems, "perception": perception, "chance": records[0]["chance"]}


def _cell(s: dict) -> str:
    return f"{s['mean']:.0%} ({s['min']:.0%}-{s['max']:.0%})"


def summary_table(summary: dict) -> str:
    qtypes = [q for q in world.QUESTION_TYPES if any(q in s["per_type"] for s in summary["systems"].values())]
    lines = ["| system | overall | " + " | ".join(qtypes) + " |", "|" + "---|" * (len(qtypes) + 2)]
    for name, s in summary["systems"].items():
        cells = [_cell(s["per_type"][q]) if q in s["per_type"] else "-" for q in qtypes]
        lines.append(f"| {name} | **{_cell(s['overall'])}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_seed_table(runs: dict[str, dict]) -> str:
    names = list(next(iter(runs.values()))["systems"])
    lines = ["| seed | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for seed, record in runs.items():
        cells = [f"{record['systems'][n]['overall']:.0%}" if n in record["systems"] else "-" for n in names]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="demo output folders, one per seed (each holds results.json)")
    ap.add_argument("--out", help="write the markdown summary here (and summary.png beside it)")
    ap.add_argument("--json", help="write the numbers as JSON here")
    args = ap.parse_args(argv)
    runs = {}
    for folder in args.runs:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: run scripts/demo.sh into {folder} first")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path} is not valid JSON ({e}): rerun scripts/demo.sh into {folder} to rewrite it")
        key = Path(folder).name if record.get("seed") is None else str(record["seed"])
        if key in runs:
            raise SystemExit(f"{path}: seed {key} is already summarized from another folder; give each seed once")
        runs[key] = record
    summary = summarize(runs)
    lines = [f"Demo over {len(runs)} seeds ({', '.join(runs)}): mean (min-max) accuracy on the held-out benchmark "
             f"({next(iter(runs.values()))['systems'][next(iter(summary['systems']))]['questions']} questions per "
             f"seed, chance {summary['chance']:.0%})", "", summary_table(summary), "", "Overall accuracy per seed:",
             "", per_seed_table(runs)]
    if summary["perception"]:
        lines += ["", "Perception, checked against the ground truth: " + "; ".join(
            f"{k} {_cell(v)}" for k, v in summary["perception"].items())]
    if args.out:
        from llava.demo import plots

        spread = {n: {"overall": (s["overall"]["min"], s["overall"]["max"]),
                      "per_type": {q: (v["min"], v["max"]) for q, v in s["per_type"].items()}}
                  for n, s in summary["systems"].items()}
        means = {n: {"overall": s["overall"]["mean"], "per_type": {q: v["mean"] for q, v in s["per_type"].items()}}
                 for n, s in summary["systems"].items()}
        try:
            plots.accuracy_png(means, list(world.QUESTION_TYPES), summary["chance"],
                               Path(args.out).parent / "summary.png", spread=spread,
                               title=f"Held-out benchmark over {len(runs)} seeds: mean, min-max")
            lines += ["", "![mean accuracy per question type over the seeds, min-max bars](summary.png)"]
        except ImportError as e:
            lines += ["", f"(picture skipped: {e})"]
    write_report(lines, summary, args.out, args.json)


if __name__ == "__main__":
    main()
