"""The shapes world: determinism, balance, MMStar layout, and agreement with the scene graph.

Expected answers are recomputed here from the scene graph by independent code (not the world's
own `ask`), and images are checked pixel by pixel against the graph.
"""
from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from llava.demo import build, world

OPTIONS_RE = re.compile(r"^(?P<q>[^\n]+)\nOptions: A: (?P<A>[^,]+), B: (?P<B>[^,]+), C: (?P<C>[^,]+), D: (?P<D>[^,]+)$")


def _expected_answer(graph: world.Scene, question: str) -> str:
    """Answer computed straight from the graph, by question wording."""
    objs = graph.objects
    by_shape = {o.shape: o for o in objs}
    pos = {o.shape: (o.row, o.col) for o in objs}
    if m := re.fullmatch(r"What color is the (\w+)\?", question):
        return by_shape[m[1]].color
    if m := re.fullmatch(r"What shape is at the (\w+) (\w+)\?", question):
        rc = (world.ROWS.index(m[1]), world.COLS.index(m[2]))
        return next(s for s, p in pos.items() if p == rc)
    if m := re.fullmatch(r"Where is the (\w+)\?", question):
        r, c = pos[m[1]]
        return f"{world.ROWS[r]} {world.COLS[c]}"
    if question == "How many objects are there?":
        return str(len(objs))
    if m := re.fullmatch(r"How many (\w+) objects are there\?", question):
        return str(sum(o.color == m[1] for o in objs))
    if m := re.fullmatch(r"Where is the (\w+) relative to the (\w+)\?", question):
        (ra, ca), (rb, cb) = pos[m[1]], pos[m[2]]
        assert (ra == rb) != (ca == cb), "relation questions only pair objects sharing exactly one line"
        if ra == rb:
            return "left" if ca < cb else "right"
        return "above" if ra < rb else "below"
    if m := re.fullmatch(r"Which object has the same color as the (\w+)\?", question):
        same = [o.shape for o in objs if o.color == by_shape[m[1]].color and o.shape != m[1]]
        assert len(same) == 1
        return same[0]
    if question == "What word is written in the image?":
        return graph.text.word
    raise AssertionError(f"unexpected question {question!r}")


# Hand-written "contents to observe" per question wording (the world's `focus_for` is not used).
FOCUS_BY_WORDING = [
    (r"What color is the (\w+)\?", "the {0}'s color"),
    (r"What shape is at the (\w+ \w+)\?", "the shape at the {0}"),
    (r"Where is the (\w+)\?", "the {0}'s position"),
    (r"How many objects are there\?", "the number of objects"),
    (r"How many (\w+) objects are there\?", "the {0} objects' number"),
    (r"Where is the (\w+) relative to the (\w+)\?", "the {0}'s position relative to the {1}"),
    (r"Which object has the same color as the (\w+)\?", "the object with the {0}'s color"),
    (r"What word is written in the image\?", "the written word"),
]


def _expected_focus(question: str) -> str:
    for pattern, focus in FOCUS_BY_WORDING:
        if m := re.fullmatch(pattern, question):
            return focus.format(*m.groups())
    raise AssertionError(f"unexpected question {question!r}")


def _trace_lines(thinking: str) -> tuple[str, list[list[str]]]:
    """(fact, [[letter, option, fact, verdict], ...]) of a scan trace; options/facts may be two words."""
    head, body = thinking.split("\n")
    assert head.startswith("fact: ") and body.startswith(" ")
    fact = head[len("fact: "):]
    # Each line is "L OPTION FACT yes|no"; split on the letters A-D that start a line.
    parts = re.findall(r" ([ABCD]) (.+?) (yes|no)(?= [ABCD] |$)", body)
    assert " " + " ".join(" ".join(p) for p in parts) == body, body
    lines = []
    for letter, middle, verdict in parts:
        assert middle.endswith(" " + fact), (middle, fact)
        lines.append([letter, middle[: -len(fact) - 1], fact, verdict])
    return fact, lines


def _yes_letters(thinking: str) -> list[str]:
    return [line[0] for line in _trace_lines(thinking)[1] if line[3] == "yes"]


def test_scenes_are_deterministic_and_seed_dependent():
    a = [world.make_scene(3, "train", n).to_dict() for n in range(20)]
    b = [world.make_scene(3, "train", n).to_dict() for n in reversed(range(20))][::-1]
    assert a == b  # independent of generation order
    c = [world.make_scene(4, "train", n).to_dict() for n in range(20)]
    assert a != c
    assert world.render(world.make_scene(3, "train", 5)).tobytes() == \
        world.render(world.make_scene(3, "train", 5)).tobytes()


def test_scene_graphs_are_valid():
    for n in range(200):
        s = world.make_scene(0, "train", n)
        assert 2 <= len(s.objects) <= 4
        cells = [(o.row, o.col) for o in s.objects] + ([(s.text.row, s.text.col)] if s.text else [])
        assert len(set(cells)) == len(cells)
        assert len({o.shape for o in s.objects}) == len(s.objects)
        assert cells[:len(s.objects)] == sorted(cells[:len(s.objects)])  # reading order
        assert world.Scene.from_dict(json.loads(json.dumps(s.to_dict()))).to_dict() == s.to_dict()


def test_description_lists_every_cell_from_the_graph():
    cell_re = re.compile(r'(top|middle|bottom) (left|center|right): (empty|word (\w+)|(\w+) (\w+) \1 \2)[;.]')
    for n in range(100):
        s = world.make_scene(1, "train", n)
        text = world.describe(s)
        assert text.endswith(f". There are {len(s.objects)} objects.")
        entries = cell_re.findall(text)
        assert [(r, c) for r, c, *_ in entries] == [(r, c) for r in world.ROWS for c in world.COLS]
        expected = {}
        for o in s.objects:
            expected[(world.ROWS[o.row], world.COLS[o.col])] = (o.color, o.shape)
        if s.text:
            expected[(world.ROWS[s.text.row], world.COLS[s.text.col])] = ("word", s.text.word)
        for row, col, whole, word, color, shape in entries:
            got = ("word", word) if word else (color, shape) if color else None
            assert got == expected.get((row, col)), (text, row, col)


def test_rendered_pixels_match_graph():
    for n in range(40):
        s = world.make_scene(2, "train", n)
        img = world.render(s)
        cell = world.IMAGE_SIZE // world.GRID
        occupied = {(o.row, o.col): o for o in s.objects}
        for r in range(world.GRID):
            for c in range(world.GRID):
                x0, y0 = c * cell, r * cell
                colours = Counter(img.getpixel((x, y)) for x in range(x0, x0 + cell) for y in range(y0, y0 + cell))
                if (r, c) in occupied:
                    assert colours[world.COLORS[occupied[(r, c)].color]] > 40, (n, r, c)
                    others = [rgb for rgb in world.COLORS.values() if rgb != world.COLORS[occupied[(r, c)].color]]
                    assert all(colours[rgb] == 0 for rgb in others)
                elif s.text and (s.text.row, s.text.col) == (r, c):
                    assert sum(v for rgb, v in colours.items() if max(rgb) < 100) > 5  # dark glyph pixels
                else:
                    assert set(colours) == {(255, 255, 255)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    cfg = build.WorldConfig(seed=7, train_images=40, per_type=8, reasoner_samples=40)
    build.build_world(out, cfg, progress=False)
    return out, cfg


def _bench(out):
    return [json.loads(line) for line in (out / "benchmark.jsonl").read_text().splitlines()]


def test_benchmark_balanced_over_types_and_letters(built):
    out, cfg = built
    rows = _bench(out)
    assert len(rows) == cfg.per_type * len(world.QUESTION_TYPES)
    assert Counter(r["question_type"] for r in rows) == {t: cfg.per_type for t in world.QUESTION_TYPES}
    for t in world.QUESTION_TYPES:
        letters = Counter(r["answer"] for r in rows if r["question_type"] == t)
        assert letters == {L: cfg.per_type // 4 for L in "ABCD"}, (t, letters)
    assert len({r["l2_category"] for r in rows}) == len(world.QUESTION_TYPES)  # l2 table = per-type table


def test_benchmark_answers_agree_with_graph(built):
    out, _ = built
    for r in _bench(out):
        m = OPTIONS_RE.match(r["question"])
        assert m, r["question"]
        options = [m[L] for L in "ABCD"]
        assert len(set(options)) == 4
        graph = world.Scene.from_dict(r["graph"])
        assert m[r["answer"]] == _expected_answer(graph, m["q"])
        assert r["description"] == world.describe(graph)
        key = _expected_key(graph, m["q"])
        assert r["statement"] == f"{r['focus'][0].upper()}{r['focus'][1:]}: {key + ' ' if key else ''}{m[r['answer']]}."
        assert r["focus"] == _expected_focus(m["q"])
        assert _yes_letters(r["thinking"]) == [r["answer"]]


def test_benchmark_reads_as_mmstar(built):
    out, _ = built
    from llava.eval.benchmarks import load_benchmark

    rows = _bench(out)
    for source in (out / "mmstar" / "mmstar.parquet", out / "benchmark.jsonl"):
        bench = load_benchmark("mmstar", str(source))
        assert [q.question for q in bench.questions] == [r["question"] for r in rows]
        assert [q.answer for q in bench.questions] == [r["answer"] for r in rows]
        assert [q.l2_category for q in bench.questions] == [r["l2_category"] for r in rows]
        first = bench.questions[0].load_image()
        expected = world.render(world.Scene.from_dict(rows[0]["graph"]))
        assert first.size == (world.IMAGE_SIZE, world.IMAGE_SIZE)
        assert first.tobytes() == expected.tobytes()
    focus = json.loads((out / "focus.json").read_text())
    assert focus == {str(r["index"]): r["focus"] for r in rows}


def test_vqa_answers_and_statements_agree_with_graph(built):
    out, cfg = built
    vqa = json.loads((out / "vqa.json").read_text())
    assert len(vqa) == cfg.train_images
    for sample in vqa:
        assert (out / sample["image"]).is_file()
        conv = sample["conversations"]
        assert conv[0]["value"].startswith("<image>\n") and sum("<image>" in t["value"] for t in conv) == 1
        graph = world.Scene.from_dict(sample["scene"]["graph"])
        assert sample["scene"]["description"] == world.describe(graph)
        for human, gpt in zip(conv[::2], conv[1::2]):
            q = human["value"].replace("<image>\n", "")
            assert gpt["value"] == _expected_answer(graph, q)
            assert sample["scene"]["statements"][q] == world.statement_for(q, gpt["value"], graph)


def test_build_is_deterministic(tmp_path):
    cfg = build.WorldConfig(seed=11, train_images=6, per_type=4, reasoner_samples=10)
    build.build_world(tmp_path / "a", cfg, progress=False)
    build.build_world(tmp_path / "b", cfg, progress=False)
    for name in ("vqa.json", "captions.json", "reasoner.json", "vqa_mc.json", "benchmark.jsonl", "scenes.jsonl",
                 "focus.json",
                 "images/train_00003.png", "images/bench_00005.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name




QTYPE_BY_WORDING = [
    (r"What color is the \w+\?", "color"), (r"What shape is at the \w+ \w+\?", "shape"),
    (r"Where is the \w+\?", "position"), (r"How many (\w+ )?objects are there\?", "count"),
    (r"Where is the \w+ relative to the \w+\?", "relation"),
    (r"Which object has the same color as the \w+\?", "comparison"),
    (r"What word is written in the image\?", "text"),
]


def _qtype(question: str) -> str:
    return next(t for pattern, t in QTYPE_BY_WORDING if re.fullmatch(pattern, question))


def _many_items(seed: int = 9, per_type: int = 40):
    for qtype in world.QUESTION_TYPES:
        for n in range(per_type):
            yield world.make_mc(seed, "items", n, qtype, world.LETTERS[n % 4])


def _expected_key(graph: world.Scene, question: str) -> str:
    """The facts a statement states before its answer, by question wording (hand-written rules)."""
    by_shape = {o.shape: o for o in graph.objects}
    by_cell = {f"{world.ROWS[o.row]} {world.COLS[o.col]}": o for o in graph.objects}
    if m := re.fullmatch(r"(?:What color is|Where is) the (\w+)\?", question):
        return m[1]
    if m := re.fullmatch(r"What shape is at the (\w+ \w+)\?", question):
        return f"{m[1]}: {by_cell[m[1]].color}"
    if m := re.fullmatch(r"How many (\w+) objects are there\?", question):
        return m[1]
    if m := re.fullmatch(r"Where is the (\w+) relative to the (\w+)\?", question):
        a, b = by_shape[m[1]], by_shape[m[2]]
        return f"{a.shape} {world.ROWS[a.row]} {world.COLS[a.col]} {b.shape} {world.ROWS[b.row]} {world.COLS[b.col]}"
    if m := re.fullmatch(r"Which object has the same color as the (\w+)\?", question):
        return f"{m[1]} {by_shape[m[1]].color}"
    if question == "What word is written in the image?":
        return "word"
    return ""


def test_statement_ends_with_the_answer_and_agrees_with_focus():
    seen = Counter()
    for item in _many_items():
        q = item.question
        seen[q.qtype] += 1
        assert _qtype(q.text) == q.qtype
        assert q.answer == _expected_answer(item.scene, q.text)
        assert q.focus == _expected_focus(q.text) == world.focus_for(q.text)
        assert q.statement == world.statement_for(q.text, q.answer, item.scene)
        key = _expected_key(item.scene, q.text)
        assert q.statement == q.focus[0].upper() + q.focus[1:] + ": " + (key + " " if key else "") + q.answer + "."
        # The answer is the statement's last word(s): a position is two words, every other answer one.
        words = q.statement.rstrip(".").split()
        assert " ".join(words[-len(q.answer.split()):]) == q.answer
        assert len(q.answer.split()) == (2 if q.qtype == "position" else 1)
        assert item.options[world.LETTERS.index(item.letter)] == q.answer and len(set(item.options)) == 4
    assert set(seen) == set(world.QUESTION_TYPES)


def test_statements_read_as_hand_written():
    scene = world.Scene("s", [world.Obj("circle", "red", 0, 0), world.Obj("square", "red", 0, 2),
                              world.Obj("star", "blue", 2, 1)], world.Text("sun", 1, 1))
    cases = {
        "What color is the circle?": ("red", "The circle's color: circle red."),
        "What shape is at the bottom center?": ("star", "The shape at the bottom center: bottom center: blue star."),
        "Where is the star?": ("bottom center", "The star's position: star bottom center."),
        "How many objects are there?": ("3", "The number of objects: 3."),
        "How many red objects are there?": ("2", "The red objects' number: red 2."),
        "Where is the circle relative to the square?": (
            "left", "The circle's position relative to the square: circle top left square top right left."),
        "Which object has the same color as the square?": (
            "circle", "The object with the square's color: square red circle."),
        "What word is written in the image?": ("sun", "The written word: word sun."),
    }
    for question, (answer, statement) in cases.items():
        assert _expected_answer(scene, question) == answer
        assert world.statement_for(question, answer, scene) == statement
        assert world.statement_for(question, answer + ".", scene) == statement  # a trailing period is not doubled
        assert world.focus_for("<image>\n" + question) == statement.split(": ")[0].lower()
    with pytest.raises(ValueError, match="has no diamond"):
        world.statement_for("Where is the diamond relative to the star?", "left", scene)
    with pytest.raises(ValueError, match="no object at the middle right"):
        world.statement_for("What shape is at the middle right?", "circle", scene)


def test_thinking_trace_scans_every_option():
    item = world.MCItem(0, world.Scene("s", [world.Obj("circle", "red", 0, 0)]),
                        world.Question("color", "What color is the circle?", "red", []),
                        ["blue", "red", "green", "yellow"], "B")
    assert item.thinking() == "fact: red\n A blue red no B red red yes C green red no D yellow red no"
    for item in _many_items(per_type=20):
        fact, lines = _trace_lines(item.thinking())
        assert fact == item.question.answer
        assert [line[0] for line in lines] == list(world.LETTERS)
        assert [line[1] for line in lines] == item.options  # same order as the question's options
        assert [line[3] for line in lines] == ["yes" if o == fact else "no" for o in item.options]
        assert _yes_letters(item.thinking()) == [item.letter]


def test_make_mc_on_a_given_scene():
    no_text = world.Scene("s", [world.Obj("circle", "red", 0, 0), world.Obj("star", "blue", 2, 1)])
    assert world.make_mc(0, "x", 1, "text", "A", scene=no_text) is None
    assert world.make_mc(0, "x", 1, "relation", "A", scene=no_text) is None   # no shared row or column
    assert world.make_mc(0, "x", 1, "comparison", "A", scene=no_text) is None  # no colour held twice
    with_text = world.Scene("t", no_text.objects, world.Text("sun", 1, 1))
    item = world.make_mc(0, "x", 1, "text", "C", scene=with_text)
    assert item.scene is with_text and item.question.answer == "sun" and item.options[2] == "sun"
    item = world.make_mc(0, "x", 1, "color", "D", scene=no_text)
    assert item.scene is no_text and item.options[3] == _expected_answer(no_text, item.question.text)


def _supports(scene: world.Scene, qtype: str) -> bool:
    objs = scene.objects
    if qtype == "text":
        return scene.text is not None
    if qtype == "relation":
        return any(a.row == b.row or a.col == b.col for i, a in enumerate(objs) for b in objs[i + 1:])
    if qtype == "comparison":
        return 2 in Counter(o.color for o in objs).values()
    return True


def test_mc_vqa_one_question_per_training_image(built):
    out, cfg = built
    from llava.eval.perception import DIRECT_ANSWER_SUFFIX

    samples = json.loads((out / "vqa_mc.json").read_text())
    vqa = json.loads((out / "vqa.json").read_text())
    assert len(samples) == cfg.train_images == 40
    qtypes = list(world.QUESTION_TYPES)
    for n, (s, plain) in enumerate(zip(samples, vqa)):
        assert s["image"] == plain["image"] and (out / s["image"]).is_file()
        human, gpt = s["conversations"][0]["value"], s["conversations"][1]["value"]
        assert human.startswith("<image>\n") and human.endswith(DIRECT_ANSWER_SUFFIX)
        m = OPTIONS_RE.match(human[len("<image>\n"): -len(DIRECT_ANSWER_SUFFIX)])
        assert m, human
        graph = world.Scene.from_dict(plain["scene"]["graph"])
        assert gpt in world.LETTERS and m[gpt] == _expected_answer(graph, m["q"])
        assert len({m[L] for L in world.LETTERS}) == 4
        # Types cycle from image n's turn to the next type its scene supports.
        expected = next(t for k in range(len(qtypes)) if _supports(graph, t := qtypes[(n + k) % len(qtypes)]))
        assert _qtype(m["q"]) == expected, (n, m["q"])
    letters = Counter(s["conversations"][1]["value"] for s in samples)
    assert set(letters) == set(world.LETTERS)
    assert max(letters.values()) - min(letters.values()) <= 1, letters
    assert len({_qtype(OPTIONS_RE.match(s["conversations"][0]["value"][8:])["q"]) for s in samples}) >= 6


def test_reasoner_samples_use_the_demo_prompt(built):
    out, cfg = built
    from llava.prompts import load_prompt_overrides

    prompts = load_prompt_overrides(build.REASONER_PROMPTS)
    assert (prompts.reasoning_prefix, prompts.reasoning_suffix_thinking) == ("Description: {description}", "")
    samples = json.loads((out / "reasoner.json").read_text())
    assert len(samples) == cfg.reasoner_samples
    assert {s["id"] for s in samples} == {f"reason_{n:06d}" for n in range(cfg.reasoner_samples)}
    for n, s in enumerate(samples):
        human, gpt = s["conversations"][0]["value"], s["conversations"][1]["value"]
        assert gpt.startswith("<think>\n") and "\n</think>\n\nAnswer: " in gpt
        thinking, letter = gpt[len("<think>\n"):].split("\n</think>\n\nAnswer: ")
        assert _yes_letters(thinking) == [letter]
        # Regenerate the sample's item from its question type and letter (public world API).
        question = human.split("\nQuestion: ", 1)[1].split("\n")[0]
        item = world.make_mc(cfg.seed, "reason", n, _qtype(question), letter, cfg.text_prob)
        description = world.extraction_description(item.scene, [item.question.statement])
        assert description == world.describe(item.scene) + " " + item.question.statement
        # Hand-computed layout of the demo prompt: description, question with options, nothing after.
        assert human == f"Description: {description}\nQuestion: {item.mmstar_question}"
        assert human == prompts.reasoning_prompt(description, item.mmstar_question, thinking=True)
        assert thinking == item.thinking()
        m = OPTIONS_RE.search(human.split("\nQuestion: ", 1)[1])
        assert m[letter] == _expected_answer(item.scene, question)
        assert description.endswith(f" {m[letter]}.")  # the fact is the description's last word(s)
    assert len({s["conversations"][1]["value"][-1] for s in samples}) == 4


@pytest.mark.parametrize("flag", ["--train-images", "--per-type", "--questions-per-image"])
def test_build_cli_names_a_count_below_one(flag, tmp_path, capsys):
    with pytest.raises(SystemExit):
        build.main([str(tmp_path / "w"), flag, "0"])
    assert f"{flag} must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_end_to_end_data_asks_the_datagen_questions_as_multiple_choice(built):
    """The end-to-end baseline trains on the same images and questions as visual extraction tuning,
    answered with the letter of the right option."""
    out, cfg = built
    vqa = json.loads((out / "vqa.json").read_text())
    e2e = json.loads((out / "end_to_end.json").read_text())
    assert [s["image"] for s in e2e] == [s["image"] for s in vqa]
    letters = []
    for mc, open_ended in zip(e2e, vqa):
        graph = world.Scene.from_dict(open_ended["scene"]["graph"])
        questions = [t["value"].replace("<image>\n", "") for t in open_ended["conversations"][::2]]
        assert len(mc["conversations"]) == 2 * len(questions)
        assert mc["conversations"][0]["value"].startswith("<image>\n")
        for q, human, gpt in zip(questions, mc["conversations"][::2], mc["conversations"][1::2]):
            text = human["value"].replace("<image>\n", "")
            assert text.startswith(q + "\nOptions: A: ")
            options = dict(o.split(": ", 1) for o in text.split("\nOptions: ")[1].split("\n")[0].split(", "))
            assert options[gpt["value"]] == _expected_answer(graph, q)
            letters.append(gpt["value"])
    assert set(letters) == set(world.LETTERS)
