"""Answer parsing, every MMStar matching rule, and l2-then-category averaging, by hand."""
import json

import pytest

from llava.eval.scoring import (aggregate, extract_answer, format_table, match_lenient,
                                match_lmms_eval_v04, match_lmms_eval_v07, score_records, write_scores)

THINK = "<think>\nThe description says the circle is red.\nWait, is it? Yes.\n</think>\n\n"

# (output as the reasoner wrote it, span the paper's parse gives, span after stripping first)
PARSES = [
    (THINK + "The circle is red.\nAnswer: B", "B", "B"),
    (THINK + "Answer: B\n", "", "B"),                     # ends in a newline: empty last line
    (THINK + "Answer: ", " ", "Answer:"),                  # regex backtracks to the space
    (THINK + "Answer:", "Answer:", "Answer:"),             # no match: the line itself
    (THINK + "Answer: (C) the dog", "(C) the dog", "(C) the dog"),
    (THINK + "answer :d ", "d ", "d"),
    (THINK + "Answer: A\nI think so", "I think so", "I think so"),   # only the last line counts
    (THINK + "Final Answer: B\r\n", "", "B"),            # a Windows line end is still a line end
    ("<think>\nthinking until the budget ran out\n</think>\n\n", "", "</think>"),
    ("line one\nB. the second option", "B. the second option", "B. the second option"),
    ("", "", ""),
]


@pytest.mark.parametrize("output, raw, stripped", PARSES)
def test_extract_answer_paper_and_stripped(output, raw, stripped):
    assert extract_answer(output) == raw
    assert extract_answer(output, "stripped") == stripped


def test_paper_parse_scores_by_hand():
    """Gold A everywhere: under the paper's parse only the first and the bare "Answer:" lines score."""
    outputs = [THINK + "Answer: A", THINK + "Answer: A\n", THINK + "Answer: ", THINK + "Answer:",
               THINK + "The answer is (A)"]
    recs = [{"index": i, "answer": "A", "category": "c", "output": o} for i, o in enumerate(outputs)]
    assert [q.correct for q in score_records(recs)] == [True, False, False, True, False]
    assert [q.correct for q in score_records(recs, answer_line="stripped")] == [True, True, True, True, False]
    # lmms-eval 0.7 falls back to any capital letter: "Answer:" -> A
    assert [q.correct for q in score_records(recs, matcher="lmms-eval-0.7")] == [True, False, False, True, True]


@pytest.mark.parametrize("pred, gold, correct", [
    ("B", "B", True),                     # first character
    ("b) a cat", "B", True),              # first character, case-insensitive
    ("  B  ", "B", True),                 # stripped
    ("(B) a cat", "B", True),             # "(x"
    ("(C)", "B", False),
    ("Option B", "B", True),              # "option x"
    ("option c", "B", False),
    ("The answer is B.", "B", True),      # "the answer is x"
    ("the answer is (B)", "B", False),    # 0.4 rule looks only at the character after "is "
    ("Answer B", "B", False),             # none of the four rules
    ("C because B is wrong", "B", False),
    ("", "B", False),                     # empty prediction is wrong, not an error
    ("(", "B", False),
    ("option ", "B", False),
])
def test_lmms_eval_04_rules(pred, gold, correct):
    assert match_lmms_eval_v04(pred, gold) is correct


@pytest.mark.parametrize("pred, gold, correct", [
    ("B", "B", True), ("(B) a cat", "B", True), ("The answer is B.", "B", True),
    ("the answer is (B)", "B", True),        # 0.7 finds the letter; 0.4 does not
    ("I think B", "B", True),                # a letter ending the text
    ("A or B? B.", "A", True),               # a leading letter outranks every later one
    ("Options (A) and (C): (C)", "C", True),  # the last "(X)" wins
    ("answer:", "A", False),                 # no upper-case letter at all
    ("C because B is wrong", "B", False),    # a leading letter outranks the rest
    ("", "B", False), (" ", "B", False),
])
def test_lmms_eval_07_rules(pred, gold, correct):
    assert match_lmms_eval_v07(pred, gold) is correct


def test_07_matcher_equals_lmms_evals_own():
    """Against lmms-eval 0.7.3's own MMStar scoring (installed in CI) on many generated predictions."""
    import random

    mmstar = pytest.importorskip("lmms_eval.tasks.mmstar.utils")
    pieces = ["A", "B", "C", "D", "E", "(A)", "(B)", "B.", "C:", "D)", "the answer is", "Answer:", " ",
              "\n", ".", ",", "'", '"', "I choose", "option", "Bat", "cat", "答案是", "b", ")", "("]
    rng = random.Random(0)
    for _ in range(3000):
        pred = "".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randint(0, 6)))
        gold = rng.choice("ABCD")
        assert match_lmms_eval_v07(pred, gold) == bool(mmstar.exact_match(pred, gold)), pred


@pytest.mark.parametrize("pred, gold, correct", [
    ("the answer is (B)", "B", True),
    ("**B**", "B", True),
    ("I pick option B", "B", True),
    ("B", "B", True),
    ("C", "B", False),
    ("nothing here", "B", False),
])
def test_lenient_matcher(pred, gold, correct):
    assert match_lenient(pred, gold) is correct


def test_l2_then_category_averaging():
    # Category X: l2 a has 1/2 correct (50), l2 b has 1/1 (100) -> X = 75 (a plain mean would be 66.7).
    # Category Y: l2 c has 0/1 (0) -> Y = 0.  Average = mean(50, 100, 0) = 50 (plain mean: 2/4 = 50;
    # Y gets its own l2 d with 1/3 to make the difference visible).
    recs = [
        {"index": 1, "answer": "A", "category": "X", "l2_category": "a", "output": "Answer: A"},
        {"index": 2, "answer": "B", "category": "X", "l2_category": "a", "output": "Answer: C"},
        {"index": 3, "answer": "C", "category": "X", "l2_category": "b", "output": "thinking\nAnswer: C"},
        {"index": 4, "answer": "D", "category": "Y", "l2_category": "c", "output": "Answer: A"},
        {"index": 5, "answer": "A", "category": "Y", "l2_category": "d", "output": "(A)"},
        {"index": 6, "answer": "A", "category": "Y", "l2_category": "d", "output": "B"},
        {"index": 7, "answer": "A", "category": "Y", "l2_category": "d", "output": "option b"},
    ]
    summary = aggregate(score_records(recs))
    assert summary["categories"]["X"] == pytest.approx(75.0)
    assert summary["categories"]["Y"] == pytest.approx((0 + 100 / 3) / 2)
    assert summary["average"] == pytest.approx((50 + 100 + 0 + 100 / 3) / 4)
    assert summary["num_correct"] == 3 and summary["num_questions"] == 7


def test_missing_l2_uses_category_and_table_is_saved(tmp_path):
    recs = [{"index": i, "answer": "A", "category": c, "output": o}
            for i, (c, o) in enumerate([("p", "A"), ("p", "B"), ("q", "A")])]
    scored = score_records(recs)
    summary = dict(aggregate(scored), matcher="lmms-eval-0.4")
    assert summary["categories"] == {"p": 50.0, "q": 100.0}
    assert summary["average"] == 75.0
    table = write_scores(scored, summary, tmp_path / "run", "demo")
    assert "| p | 50.0 |" in table and "| **average** | **75.0** |" in table
    saved = json.loads((tmp_path / "run.scores.json").read_text())
    assert [q["correct"] for q in saved["questions"]] == [True, False, True]
    assert (tmp_path / "run.table.md").read_text() == table == format_table(summary, "demo")


def test_record_without_answer_is_named():
    with pytest.raises(KeyError, match="record 7"):
        score_records([{"index": 7, "output": "A"}])
    with pytest.raises(ValueError, match="unknown matcher"):
        score_records([], matcher="fuzzy")
