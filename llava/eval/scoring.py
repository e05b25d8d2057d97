"""Answer parsing and multiple-choice scoring (MMStar rules, REFERENCE.md section 6).

A reasoner's output is reduced to its last line; the text after ``Answer:`` on that line (or the
whole line) is matched against the gold letter. The default matcher is lmms-eval 0.4's MMStar
``exact_match`` so numbers stay comparable with the paper; ``lenient`` also accepts the usual ways
a model writes a letter elsewhere in the line. Aggregation follows lmms-eval's MMStar: per-question
0/1 -> mean per ``l2_category``; a category is the mean of its l2 means and ``average`` the mean
over all l2 means (a benchmark without l2 categories uses the category as its own l2).
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

ANSWER_RE = re.compile(r"(?i)Answer\s*:\s*([^\n]+)")


def extract_answer(output: str) -> str:
    """The answer span of a model output: last line, text after ``Answer:`` if present."""
    lines = output.strip().split("\n")
    last = lines[-1] if lines else ""
    match = ANSWER_RE.search(last)
    return match.group(1) if match else last


def match_lmms_eval_v04(pred: str, gold: str) -> bool:
    """lmms-eval 0.4 MMStar ``exact_match``: first char, ``(x``, ``option x``, ``the answer is x``."""
    answer = gold.lower().strip().replace("\n", " ")
    predict = pred.lower().strip().replace("\n", " ")
    if not predict:
        return False
    if answer == predict[0]:
        return True
    if predict[0] == "(" and predict[1:2] == answer:
        return True
    if predict.startswith("option ") and predict[7:8] == answer:
        return True
    if predict.startswith("the answer is ") and predict[14:15] == answer:
        return True
    return False


_LENIENT_PATTERNS = [  # explicit phrasings first, then a leading letter (A-H only: "I think...")
    r"\banswer\s*(?:is|:)\s*\(?([a-h])\b",   # "the answer is (B)", "answer: b"
    r"\boption\s*\(?([a-h])\b",               # "... option B"
    r"^\**\(?([a-h])\)?\**(?:[\s.:,]|$)",       # "B", "(B)", "B.", "**B**", "B: text"
]


def match_lenient(pred: str, gold: str) -> bool:
    """A more forgiving matcher: the first option letter found by a few common phrasings."""
    predict = pred.lower().strip().replace("\n", " ")
    answer = gold.lower().strip()
    for pattern in _LENIENT_PATTERNS:
        found = re.search(pattern, predict)
        if found:
            return found.group(1) == answer
    return False


MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "lmms-eval-0.4": match_lmms_eval_v04,
    "lenient": match_lenient,
}


@dataclass
class ScoredQuestion:
    index: str
    category: str
    l2_category: str
    gold: str
    extracted: str
    correct: bool


def score_records(records: Iterable[dict], matcher: str = "lmms-eval-0.4",
                  output_key: str = "output") -> list[ScoredQuestion]:
    """Score records with ``index``, ``answer``, ``category``, optional ``l2_category`` and an output."""
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r}; choose one of {sorted(MATCHERS)}")
    match = MATCHERS[matcher]
    scored = []
    for rec in records:
        missing = [k for k in ("index", "answer", output_key) if k not in rec]
        if missing:
            raise KeyError(f"record {rec.get('index', '?')} lacks {missing} and cannot be scored")
        extracted = extract_answer(rec[output_key] or "")
        category = str(rec.get("category") or "all")
        scored.append(ScoredQuestion(
            index=str(rec["index"]), category=category,
            l2_category=str(rec.get("l2_category") or category), gold=str(rec["answer"]),
            extracted=extracted, correct=match(extracted, str(rec["answer"]))))
    return scored


def aggregate(scored: list[ScoredQuestion]) -> dict:
    """l2 means, category = mean of its l2 means, average = mean over all l2 means (in percent)."""
    if not scored:
        raise ValueError("no scored questions to aggregate")
    per_l2: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for q in scored:
        per_l2[(q.category, q.l2_category)].append(q.correct)
    l2_means = {key: 100.0 * sum(v) / len(v) for key, v in per_l2.items()}
    per_category: dict[str, list[float]] = defaultdict(list)
    for (category, _), mean in l2_means.items():
        per_category[category].append(mean)
    return {
        "categories": {c: sum(v) / len(v) for c, v in sorted(per_category.items())},
        "l2_categories": {f"{c} / {l2}": m for (c, l2), m in sorted(l2_means.items())},
        "average": sum(l2_means.values()) / len(l2_means),
        "num_questions": len(scored),
        "num_correct": sum(q.correct for q in scored),
    }


def format_table(summary: dict, title: str = "") -> str:
    """Markdown table: one row per category plus the average."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| category | accuracy |", "|---|---|"]
    lines += [f"| {c} | {v:.1f} |" for c, v in summary["categories"].items()]
    lines.append(f"| **average** | **{summary['average']:.1f}** |")
    lines.append("")
    lines.append(f"{summary['num_correct']}/{summary['num_questions']} questions correct; "
                 f"matcher: {summary.get('matcher', 'lmms-eval-0.4')}")
    return "\n".join(lines) + "\n"


def write_scores(scored: list[ScoredQuestion], summary: dict, stem: Path, title: str = "") -> str:
    """Save ``stem.scores.json`` (summary + per-question records) and ``stem.table.md``."""
    table = format_table(summary, title)
    payload = dict(summary, questions=[vars(q) for q in scored])
    stem = Path(stem)
    Path(f"{stem}.scores.json").write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    Path(f"{stem}.table.md").write_text(table, encoding="utf-8")
    return table
