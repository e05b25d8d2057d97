"""lmms-eval sample logs: read them as stage-1 descriptions, and write them for stage 1.

A sample log is JSONL with ``doc_id`` (row number in the task's dataset), ``target``, ``input``
and ``filtered_resps`` -- a one-element list in lmms-eval 0.4, a plain string in later versions.
"""
from __future__ import annotations

import json
from pathlib import Path

from llava.eval.artifacts import read_jsonl_lines


def response_text(filtered_resps, where: str) -> str:
    """The model's response from either ``filtered_resps`` shape (nested lists unwrapped)."""
    value = filtered_resps
    while isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"{where}: filtered_resps is an empty list")
        value = value[0]
    if not isinstance(value, str):
        raise ValueError(f"{where}: filtered_resps holds {type(value).__name__}, expected text")
    return value


def sample_log_records(path: str | Path):
    """``(where, record)`` for each record of an lmms-eval ``--log_samples`` file, ``where`` being
    "FILE line N" for messages; a record without ``doc_id``/``filtered_resps`` is refused by name."""
    for lineno, rec in read_jsonl_lines(path):
        where = f"{path} line {lineno}"
        if "doc_id" not in rec or "filtered_resps" not in rec:
            raise KeyError(f"{where} lacks doc_id/filtered_resps: not an lmms-eval sample log "
                           "(run lmms-eval with --log_samples)")
        yield where, rec


def read_lmms_descriptions(path: str | Path, questions) -> dict[str, str]:
    """``{index: description}`` for benchmark ``questions`` from an lmms-eval sample log.

    ``doc_id`` is matched to each question's row number in the benchmark (its ``position``).
    """
    by_position = {q.position: q for q in questions}
    descriptions: dict[str, str] = {}
    for where, rec in sample_log_records(path):
        q = by_position.get(int(rec["doc_id"]))
        if q is None:
            continue  # a question outside the selected benchmark subset
        target = rec.get("target")
        if target is not None and str(target).strip() != q.answer:
            raise ValueError(f"{where}: doc_id {rec['doc_id']} has target {target!r} but benchmark "
                             f"question {q.index} has answer {q.answer!r}; the log is for another "
                             "dataset or order")
        descriptions[q.index] = response_text(rec["filtered_resps"], where)
    return descriptions


def write_lmms_samples(path: str | Path, records: list[dict], questions, output_key: str) -> None:
    """Write stage-1 records as an lmms-eval 0.4 sample log (list-shaped ``filtered_resps``)."""
    by_index = {q.index: q for q in questions}
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            q = by_index[str(rec["index"])]
            text = rec[output_key]
            sample = {
                "doc_id": q.position, "target": q.answer, "input": rec["prompt"],
                "arguments": {"prompt": rec["prompt"]}, "resps": [[text]], "filtered_resps": [text],
                "doc": {"index": q.index, "question": q.question, "answer": q.answer,
                        "category": q.category, "l2_category": q.l2_category},
            }
            f.write(json.dumps(sample, ensure_ascii=False) + "\n")
