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
SENTENCE_RE = re.compile(r"A (\w+) (\w+) at the (\w+) (\w+)\.")


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


def test_description_matches_graph():
    for n in range(100):
        s = world.make_scene(1, "train", n)
        text = world.describe(s)
        assert text.startswith(f"There are {len(s.objects)} objects. ")
        parsed = SENTENCE_RE.findall(text)
        assert parsed == [(o.color, o.shape, world.ROWS[o.row], world.COLS[o.col]) for o in s.objects]
        words = re.findall(r'The word "(\w+)" is written at the (\w+) (\w+)\.', text)
        assert words == ([(s.text.word, world.ROWS[s.text.row], world.COLS[s.text.col])] if s.text else [])


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
    cfg = build.WorldConfig(seed=7, train_images=24, per_type=8, reasoner_samples=40)
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
        assert r["thinking"].endswith(f"is {r['answer']}.")


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
            assert sample["scene"]["statements"][q] == world.statement_for(q, gpt["value"])


def test_build_is_deterministic(tmp_path):
    cfg = build.WorldConfig(seed=11, train_images=6, per_type=4, reasoner_samples=10)
    build.build_world(tmp_path / "a", cfg, progress=False)
    build.build_world(tmp_path / "b", cfg, progress=False)
    for name in ("vqa.json", "captions.json", "reasoner.json", "benchmark.jsonl", "scenes.jsonl", "focus.json",
                 "images/train_00003.png", "images/bench_00005.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_reasoner_samples_use_the_paper_prompt(built):
    out, _ = built
    from llava.prompts import PromptSet

    samples = json.loads((out / "reasoner.json").read_text())
    prefix = PromptSet().reasoning_prefix.split("{description}")[0]
    for s in samples:
        human, gpt = s["conversations"][0]["value"], s["conversations"][1]["value"]
        assert human.startswith(prefix) and human.endswith(PromptSet().reasoning_suffix_thinking)
        m = OPTIONS_RE.search(human.split("\nQuestion: ", 1)[1].rsplit("\nPlease reason", 1)[0])
        letter = gpt.rsplit("Answer: ", 1)[1]
        assert gpt.startswith("<think>\n") and "\n</think>\n\nAnswer: " in gpt
        description = human.split("Description: ", 1)[1].split("\nQuestion: ", 1)[0]
        graph_sentences = SENTENCE_RE.findall(description)
        assert graph_sentences, description
        assert f"{m[letter]} is {letter}." in gpt
