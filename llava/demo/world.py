"""The synthetic "shapes" world of the embedded demo, deterministic from a seed.

Each scene is a 3x3 grid (cells named ``top left`` ... ``bottom right``) holding 2-4 coloured
shapes with distinct shapes, and sometimes one short word written in an empty cell. Everything the
demo needs derives from the scene graph alone:

- the image (``render``), the canonical description (``describe``: ordered by grid position, one
  fixed sentence per object, so a tiny model can learn to write and read it);
- open-ended VQA pairs (the data-generation input), their declarative statements and the
  question-specific focus ("contents to observe");
- multiple-choice questions in MMStar's layout, one per question type, with the option letter and
  distractors drawn so that types and letters are exactly balanced;
- a short thinking trace per question: the answer read from the description, then its option
  letter (what the tiny reasoner is trained to write).

Every random choice goes through ``random.Random`` seeded by ``(seed, split, number)``, so a scene
does not depend on how many others were generated before it.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field

IMAGE_SIZE = 96
GRID = 3
ROWS = ("top", "middle", "bottom")
COLS = ("left", "center", "right")
POSITIONS = tuple(f"{r} {c}" for r in ROWS for c in COLS)
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 190, 20),
    "purple": (140, 60, 180),
}
SHAPES = ("circle", "square", "triangle", "diamond", "star")
# Four words of clearly different printed widths (7, 16, 23 and 31 px at the demo's font): a tiny
# vision tower tells them apart by their extent; same-width words (cat/car/hat) it could not.
WORDS = ("it", "ox", "sun", "drum")
LETTERS = "ABCD"
RELATIONS = ("left", "right", "above", "below")

# Question type -> (MMStar category, MMStar l2_category). Each type has its own l2 category so the
# MMStar scorer's l2 table is the per-type accuracy.
QUESTION_TYPES = {
    "color": ("instance reasoning", "single-instance reasoning"),
    "shape": ("math", "geometry"),
    "position": ("fine-grained perception", "localization"),
    "count": ("fine-grained perception", "object counting"),
    "relation": ("instance reasoning", "cross-instance relation reasoning"),
    "comparison": ("instance reasoning", "cross-instance attribute reasoning"),
    "text": ("fine-grained perception", "recognition"),
}


@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    row: int
    col: int

    @property
    def position(self) -> str:
        return f"{ROWS[self.row]} {COLS[self.col]}"


@dataclass(frozen=True)
class Text:
    word: str
    row: int
    col: int

    @property
    def position(self) -> str:
        return f"{ROWS[self.row]} {COLS[self.col]}"


@dataclass
class Scene:
    """A scene graph: shapes (reading order) and an optional written word."""

    id: str
    objects: list[Obj]
    text: Text | None = None
    # Per-object pixel jitter (dx, dy, size delta), so images vary while the graph stays the same.
    jitter: list[tuple[int, int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "objects": [asdict(o) for o in self.objects],
                "text": asdict(self.text) if self.text else None,
                "jitter": [list(j) for j in self.jitter]}

    @classmethod
    def from_dict(cls, d: dict) -> "Scene":
        try:
            objects = [Obj(**o) for o in d["objects"]]
            text = Text(**d["text"]) if d.get("text") else None
            jitter = [tuple(j) for j in d.get("jitter") or [(0, 0, 0)] * len(objects)]
            return cls(id=str(d["id"]), objects=objects, text=text, jitter=jitter)
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a shapes-world scene graph ({e}): {json.dumps(d)[:200]}") from None

    def find(self, shape: str) -> Obj:
        return self._one(lambda o: o.shape == shape, f"no {shape}")

    def at(self, position: str) -> Obj:
        return self._one(lambda o: o.position == position, f"no object at the {position}")

    def _one(self, match, missing: str) -> Obj:
        found = next((o for o in self.objects if match(o)), None)
        if found is None:
            raise ValueError(f"scene {self.id} has {missing}")
        return found


# --- generation ----------------------------------------------------------------------------------
def _rng(seed: int, split: str, number: int, salt: str = "") -> random.Random:
    return random.Random(f"shapes/{seed}/{split}/{number}/{salt}")


def make_scene(seed: int, split: str, number: int, text_prob: float = 0.5,
               min_objects: int = 2, max_objects: int = 4, attempt: int = 0) -> Scene:
    """Scene ``number`` of ``split``; ``attempt`` > 0 draws an alternative with the same id."""
    rng = _rng(seed, split, number, f"scene{attempt}" if attempt else "")
    n = rng.randint(min_objects, max_objects)
    cells = rng.sample(range(GRID * GRID), n + 1)
    shapes = rng.sample(SHAPES, n)
    colors = [rng.choice(list(COLORS)) for _ in range(n)]
    objects = sorted((Obj(s, c, cell // GRID, cell % GRID) for s, c, cell in zip(shapes, colors, cells)),
                     key=lambda o: (o.row, o.col))
    text = None
    if rng.random() < text_prob:
        text = Text(rng.choice(WORDS), cells[n] // GRID, cells[n] % GRID)
    jitter = [(rng.randint(-2, 2), rng.randint(-2, 2), rng.randint(-2, 1)) for _ in objects]
    return Scene(id=f"{split}_{number:05d}", objects=objects, text=text, jitter=jitter)


# --- rendering -----------------------------------------------------------------------------------
def _shape_points(shape: str, cx: float, cy: float, r: float):
    import math

    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    if shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    raise ValueError(shape)


def render(scene: Scene, size: int = IMAGE_SIZE):
    """Draw the scene on a white square image of ``size`` pixels."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    cell = size / GRID
    scale = size / IMAGE_SIZE
    for obj, (dx, dy, ds) in zip(scene.objects, scene.jitter or [(0, 0, 0)] * len(scene.objects)):
        cx = (obj.col + 0.5) * cell + dx * scale
        cy = (obj.row + 0.5) * cell + dy * scale
        r = (11 + ds) * scale
        fill = COLORS[obj.color]
        if obj.shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        elif obj.shape == "square":
            # The square fills the circle's bounding box: drawn smaller, its area matched the circle's
            # and circle/square were a third of the tiny tower's shape errors (docs/demo_research.md,
            # 2026-12-04).
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
        else:
            draw.polygon(_shape_points(obj.shape, cx, cy, r), fill=fill)
    if scene.text is not None:
        font = ImageFont.load_default(size=max(8, round(13 * scale)))
        t = scene.text
        left, top, right, bottom = draw.textbbox((0, 0), t.word, font=font)
        x = (t.col + 0.5) * cell - (right + left) / 2
        y = (t.row + 0.5) * cell - (bottom + top) / 2
        draw.text((x, y), t.word, fill=(0, 0, 0), font=font)
    return img


def pixel_stats(seed: int = 0, n: int = 200) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of rendered training scenes (values in [0, 1]), for the image
    processor's normalisation."""
    import numpy as np

    pixels = np.stack([np.asarray(render(make_scene(seed, "train", k)), dtype=np.float64) / 255.0
                       for k in range(n)])
    return pixels.mean(axis=(0, 1, 2)).round(4).tolist(), pixels.std(axis=(0, 1, 2)).round(4).tolist()


# --- language ------------------------------------------------------------------------------------
def cell_entry(scene: Scene, row: int, col: int) -> str:
    """What one grid cell holds, as the description writes it: ``red circle top left``, ``word sun`` or
    ``empty``. An object's entry ends with its position again, so a reader that finds the shape
    finds its position right after it (a forward look-up; see `compose_statement`)."""
    for o in scene.objects:
        if (o.row, o.col) == (row, col):
            return f"{o.color} {o.shape} {o.position}"
    if scene.text is not None and (scene.text.row, scene.text.col) == (row, col):
        return f"word {scene.text.word}"
    return "empty"


def describe(scene: Scene) -> str:
    """The canonical ground-truth description (generic caption): every grid cell in reading order,
    then the number of objects, e.g. ``top left: red circle top left; top center: empty; ...; bottom
    right: word sun. There are 2 objects.``

    Every cell is listed, empty ones too, so the k-th entry always describes the k-th cell: a tiny
    model reads each entry from one place of the image instead of first working out which cell
    holds the next object (with only the occupied cells listed it stayed at the blind-caption loss
    for 900 steps, see docs/demo_research.md).
    """
    cells = "; ".join(f"{POSITIONS[r * GRID + c]}: {cell_entry(scene, r, c)}"
                      for r in range(GRID) for c in range(GRID))
    return f"{cells}. There are {len(scene.objects)} objects."


def relation(a: Obj, b: Obj) -> str | None:
    """Where ``a`` is relative to ``b`` when they share a row or a column, else None."""
    if a.row == b.row and a.col != b.col:
        return "left" if a.col < b.col else "right"
    if a.col == b.col and a.row != b.row:
        return "above" if a.row < b.row else "below"
    return None


@dataclass
class Question:
    """One question about a scene, answerable from the scene graph."""

    qtype: str
    text: str          # the question without options
    answer: str        # open-ended answer (a word, a number or a position)
    distractor_pool: list[str]
    key: str = ""      # the looked-up facts the answer follows from (`lookup_key`)

    @property
    def focus(self) -> str:
        """"Contents to observe" of the question (what stage 0 writes)."""
        return focus_for(self.text)

    @property
    def statement(self) -> str:
        """The declarative statement of (question, answer); the answer is its last word."""
        return compose_statement(self.text, self.key, self.answer)


def _count_question(scene: Scene, rng: random.Random) -> Question:
    if rng.random() < 0.3:
        n = len(scene.objects)
        return Question("count", "How many objects are there?", str(n), [str(k) for k in range(0, 6) if k != n])
    color = rng.choice([o.color for o in scene.objects] + list(COLORS))
    n = sum(o.color == color for o in scene.objects)
    return Question("count", f"How many {color} objects are there?", str(n), [str(k) for k in range(0, 5) if k != n])


def ask(scene: Scene, qtype: str, rng: random.Random) -> Question | None:
    """A question of ``qtype`` about ``scene``, or None when the scene cannot support it."""
    q = _ask(scene, qtype, rng)
    if q is not None:
        q.key = lookup_key(scene, q.text)
    return q


def _ask(scene: Scene, qtype: str, rng: random.Random) -> Question | None:
    objs = scene.objects
    if qtype == "color":
        o = rng.choice(objs)
        return Question(qtype, f"What color is the {o.shape}?", o.color, [c for c in COLORS if c != o.color])
    if qtype == "shape":
        o = rng.choice(objs)
        return Question(qtype, f"What shape is at the {o.position}?", o.shape, [s for s in SHAPES if s != o.shape])
    if qtype == "position":
        o = rng.choice(objs)
        return Question(qtype, f"Where is the {o.shape}?", o.position, [p for p in POSITIONS if p != o.position])
    if qtype == "count":
        return _count_question(scene, rng)
    if qtype == "relation":
        pairs = [(a, b) for a in objs for b in objs if a is not b and relation(a, b)]
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        rel = relation(a, b)
        return Question(qtype, f"Where is the {a.shape} relative to the {b.shape}?", rel,
                        [r for r in RELATIONS if r != rel])
    if qtype == "comparison":
        cands = [a for a in objs if sum(o.color == a.color for o in objs) == 2]
        if not cands:
            return None
        a = rng.choice(cands)
        b = next(o for o in objs if o.color == a.color and o is not a)
        return Question(qtype, f"Which object has the same color as the {a.shape}?", b.shape,
                        [s for s in SHAPES if s not in (a.shape, b.shape)])
    if qtype == "text":
        if scene.text is None:
            return None
        w = scene.text.word
        return Question(qtype, "What word is written in the image?", w, [x for x in WORDS if x != w])
    raise ValueError(f"unknown question type {qtype!r}; known: {sorted(QUESTION_TYPES)}")


@dataclass
class MCItem:
    """A multiple-choice question in MMStar's layout plus what the demo needs around it."""

    index: int
    scene: Scene
    question: Question
    options: list[str]
    letter: str

    @property
    def mmstar_question(self) -> str:
        opts = ", ".join(f"{L}: {o}" for L, o in zip(LETTERS, self.options))
        return f"{self.question.text}\nOptions: {opts}"

    def thinking(self) -> str:
        """The reasoning trace: the fact read from the description (its last word), then every option
        checked against it, e.g. ``fact: red`` / `` A blue red no B red red yes C ...``.

        Built for a tiny reasoner: each option line has the same token length as an option of the
        question (``A: blue,``), so copying the options is a fixed-distance look back; the verdict
        compares the two words just written; the letter is then the one before ``yes``.
        """
        fact = self.question.answer
        lines = " ".join(f"{letter} {option} {fact} {'yes' if option == fact else 'no'}"
                         for letter, option in zip(LETTERS, self.options))
        return f"fact: {fact}\n {lines}"


def make_choice(scene: Scene, q: Question, letter: str, rng: random.Random) -> tuple[list[str], str]:
    distractors = rng.sample(q.distractor_pool, 3)
    options = list(distractors)
    options.insert(LETTERS.index(letter), q.answer)
    return options, letter


def make_mc(seed: int, split: str, number: int, qtype: str, letter: str, text_prob: float = 0.5,
            scene: Scene | None = None) -> MCItem | None:
    """A multiple-choice question of ``qtype`` whose answer is ``letter``: on a fresh scene, or on
    ``scene`` when given (None when that scene cannot support the type)."""
    for attempt in range(1 if scene is not None else 1000):
        current = scene or make_scene(seed, split, number, text_prob=1.0 if qtype == "text" else text_prob,
                                      attempt=attempt)
        rng = _rng(seed, split, number, "question")
        q = ask(current, qtype, rng)
        if q is not None:
            options, letter = make_choice(current, q, letter, rng)
            return MCItem(number, current, q, options, letter)
    if scene is not None:
        return None
    raise RuntimeError(f"no scene supports a {qtype} question (seed {seed}, item {number})")


def benchmark_items(seed: int, per_type: int, qtypes=tuple(QUESTION_TYPES), split: str = "bench",
                    text_prob: float = 0.5) -> list[MCItem]:
    """``per_type`` questions of every type; within a type, answer letters cycle A-D (balanced)."""
    items = []
    for k in range(per_type):
        for t, qtype in enumerate(qtypes):
            number = k * len(qtypes) + t
            letter = LETTERS[(k + t) % 4]
            items.append(make_mc(seed, split, number, qtype, letter, text_prob))
    return items


# --- parsing (the scene teacher reads questions back) -------------------------------------------
_PATTERNS = [
    ("color", re.compile(r"^What colou?r is the (\w+)\?$")),
    ("shape", re.compile(r"^What shape is at the (\w+ \w+)\?$")),
    ("position", re.compile(r"^Where is the (\w+)\?$")),
    ("count_all", re.compile(r"^How many objects are there\?$")),
    ("count", re.compile(r"^How many (\w+) objects are there\?$")),
    ("relation", re.compile(r"^Where is the (\w+) relative to the (\w+)\?$")),
    ("comparison", re.compile(r"^Which object has the same colou?r as the (\w+)\?$")),
    ("text", re.compile(r"^What word is written in the image\?$")),
]


def parse_question(text: str) -> tuple[str, tuple[str, ...]] | None:
    """(kind, captured words) for a question this world asks, else None."""
    text = text.replace("<image>", "").strip()
    for kind, pattern in _PATTERNS:
        m = pattern.match(text)
        if m:
            return kind, m.groups()
    return None


def focus_for(question: str) -> str:
    """The "contents to observe" of one question (what stage 0 would produce).

    The word a statement must copy from its focus comes first where it can (``the red objects'
    number``, as ``the star's color``): statements start by copying the focus, and with the colour
    after "the number of" the extraction wrote a colour at random (2 of 20 count statements right,
    docs/demo_research.md, 2026-12-04)."""
    parsed = parse_question(question)
    if parsed is None:
        return "the objects in the image"
    kind, g = parsed
    return {
        "color": lambda: f"the {g[0]}'s color",
        "shape": lambda: f"the shape at the {g[0]}",
        "position": lambda: f"the {g[0]}'s position",
        "count_all": lambda: "the number of objects",
        "count": lambda: f"the {g[0]} objects' number",
        "relation": lambda: f"the {g[0]}'s position relative to the {g[1]}",
        "comparison": lambda: f"the object with the {g[0]}'s color",
        "text": lambda: "the written word",
    }[kind]()


def lookup_key(scene: Scene | None, question: str) -> str:
    """The facts an answering statement states before its answer, each read from the description:
    the question's key word (``circle`` for "What color is the circle?"), so that in the statement
    the answer directly follows the word it is looked up by. The shape at a position restates the
    cell's entry as the description writes it (``top center: purple``, then the shape, as in
    ``top center: purple square``), so it is written by the same steps that wrote the description
    (with the position alone as key 30% of these statements were right, with the entry 40-55% in
    three runs: docs/demo_research.md, 2026-11-29); two-object questions state the facts of both
    objects (relation: both positions; comparison: the named object's colour).
    """
    parsed = parse_question(question)
    if parsed is None:
        return ""
    kind, g = parsed
    if kind in ("color", "position", "count"):
        return g[0]
    if kind == "text":
        return "word"
    if scene is None:
        raise ValueError(f"the statement of {question!r} needs the scene graph (the objects' positions and colours)")
    if kind == "shape":
        a = scene.at(g[0])
        return f"{a.position}: {a.color}"
    if kind == "relation":
        a, b = scene.find(g[0]), scene.find(g[1])
        return f"{a.shape} {a.position} {b.shape} {b.position}"
    if kind == "comparison":
        a = scene.find(g[0])
        return f"{a.shape} {a.color}"
    return ""


def compose_statement(question: str, key: str, answer: str) -> str:
    """``<Focus>: <key> <answer>.`` (e.g. "The circle's color: circle red.").

    Written for a tiny model that must produce it after the description: the answer is the last
    word (where the reasoner reads it) and immediately follows the word it is looked up by, so each
    answer is one look-up in the description from the token before it. With the answer after "is"
    ("The color of the circle is red.") the look-up needs one more hop: a 2-layer model trained on
    text alone answered half the held-out questions after ~6000 steps instead of ~800
    (docs/demo_research.md, 2026-11-28)."""
    answer = answer.strip().rstrip(".")
    if parse_question(question) is None:
        return f"The answer to the question \"{question.strip()}\" is {answer}."
    focus = focus_for(question)
    return f"{focus[0].upper()}{focus[1:]}: {' '.join(w for w in (key, answer) if w)}."


def statement_for(question: str, answer: str, scene: Scene | None = None) -> str:
    """The declarative statement of a question-answer pair about ``scene`` (`compose_statement`)."""
    return compose_statement(question, lookup_key(scene, question), answer)


def extraction_description(scene: Scene, statements: list[str]) -> str:
    """What the scene teacher writes in step 2: the canonical description plus the statements."""
    extra = [s.strip() for s in statements if s.strip()]
    return " ".join([describe(scene)] + extra)
