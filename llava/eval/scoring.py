"""Answer parsing and multiple-choice scoring (MMStar rules; docs/evaluation.md, "Parsing and scoring").

The paper's parse (the default): the last line of the output exactly as generated
(``output.split("\n")[-1]``, no stripping), then the text after ``Answer:`` on that line if the
regex ``(?i)Answer\s*:\s*([^\n]+)`` matches, else the whole line. So an output ending in a newline
has an empty last line (scored wrong), and "Answer: " with nothing after gives " " (wrong), not
the line. ``answer_line="stripped"`` strips the output first (the project's earlier parse).

Matchers: ``lmms-eval-0.4`` is the MMStar ``exact_match`` of lmms-eval 0.4, the version the paper's
numbers come from (the default); ``lmms-eval-0.7`` is lmms-eval 0.7.3's (a letter extracted by
format priority, what the lmms-eval plugin scores with under 0.7.x); ``lenient`` also accepts the
usual ways a model writes a letter. Aggregation follows lmms-eval's MMStar: per-question 0/1 ->
mean per ``l2_category``; a category is the mean of its l2 means and ``average`` the mean over all
l2 means (a benchmark without l2 categories uses the category as its own l2).
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

ANSWER_RE = re.compile(r"(?i)Answer\s*:\s*([^\n]+)")
ANSWER_LINES = ("raw", "stripped")


def last_line(output: str, answer_line: str = "raw") -> str:
    """The line the answer is read from: the output's last line, as generated or after stripping."""
    if answer_line not in ANSWER_LINES:
        raise ValueError(f"unknown answer line {answer_line!r}; choose one of {list(ANSWER_LINES)}")
    text = output if answer_line == "raw" else output.strip()
    return text.split("\n")[-1]


def extract_answer(output: str, answer_line: str = "raw") -> str:
    """The answer span: the ``Answer:`` regex's group on the last line, else that whole line."""
    line = last_line(output, answer_line)
    match = ANSWER_RE.search(line)
    return match.group(1) if match else line


def match_lmms_eval_v04(pred: str, gold: str) -> bool:
    """lmms-eval 0.4 MMStar ``exact_match``: first char, ``(x``, ``option x``, ``the answer is x``
    (an index past the end of the prediction counts as no match, as its try/except does)."""
    answer = gold.lower().strip().replace("\n", " ")
    predict = pred.lower().strip().replace("\n", " ")
    if not predict:
        return False
    if answer == predict[0]:
        return True
    if predict[0] == "(" and len(predict) > 1 and answer == predict[1]:
        return True
    if predict.startswith("option ") and len(predict) > 7 and answer == predict[7]:
        return True
    if predict.startswith("the answer is ") and len(predict) > 14 and answer == predict[14]:
        return True
    return False


def match_lmms_eval_v07(pred: str, gold: str) -> bool:
    """lmms-eval 0.7.3 MMStar ``exact_match``: the letter :func:`mcq_letter` finds among A-D equals
    the stripped, upper-cased gold."""
    from llava.eval.mcq_letter import mcq_letter

    return mcq_letter(pred, "ABCD") == gold.strip().upper()


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
    "lmms-eval-0.7": match_lmms_eval_v07,
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
    no_output: bool = False     # the record's output was null/missing: scored wrong and reported


def score_records(records: Iterable[dict], matcher: str = "lmms-eval-0.4", output_key: str = "output",
                  answer_line: str = "raw", where: Sequence[str] | None = None) -> list[ScoredQuestion]:
    """Score records with ``index``, ``answer``, ``category``, optional ``l2_category`` and an output.

    ``where[i]`` names record i in messages (e.g. "file.jsonl line 3"). A duplicate index or a
    record without a gold answer is refused; a null output is scored wrong and counted.
    """
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r}; choose one of {sorted(MATCHERS)}")
    if answer_line not in ANSWER_LINES:
        raise ValueError(f"unknown answer line {answer_line!r}; choose one of {list(ANSWER_LINES)}")
    match = MATCHERS[matcher]
    scored, seen = [], {}
    for n, rec in enumerate(records):
        place = where[n] if where is not None else f"record {n + 1}"
        if not isinstance(rec, dict):
            raise ValueError(f"{place} is a JSON {type(rec).__name__}, not an object with index/answer/{output_key}")
        if "index" not in rec or "answer" not in rec:
            missing = [k for k in ("index", "answer") if k not in rec]
            raise KeyError(f"record {rec.get('index', '?')} ({place}) lacks {missing} and cannot be scored")
        index = str(rec["index"])
        if index in seen:
            raise ValueError(f"index {index} appears twice ({seen[index]} and {place}); each question may be "
                             "scored once: remove the duplicate")
        seen[index] = place
        if rec["answer"] is None or str(rec["answer"]).strip() == "":
            raise ValueError(f"record {index} ({place}) has no gold answer (null/empty); fix the record or drop it")
        output = rec.get(output_key)
        if output is not None and not isinstance(output, str):
            raise ValueError(f"record {index} ({place}): {output_key!r} is a {type(output).__name__}, expected text")
        extracted = extract_answer(output or "", answer_line)
        category = str(rec.get("category") or "all")
        scored.append(ScoredQuestion(
            index=index, category=category, l2_category=str(rec.get("l2_category") or category),
            gold=str(rec["answer"]), extracted=extracted,
            correct=output is not None and match(extracted, str(rec["answer"])), no_output=output is None))
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
        "num_no_output": sum(q.no_output for q in scored),
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
    if summary.get("num_no_output"):
        lines.append(f"{summary['num_no_output']} question(s) had no output (null) and are scored wrong")
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
