"""The demo's word-level tokenizer, shared by the tiny perception model and the tiny reasoner.

Its corpus is every prompt text of the paper (`llava.prompts`) plus every word the shapes world
can write (descriptions, questions, options, statements, focus texts, thinking traces), so no
text of the demo ever meets `<unk>`. The nine grid positions ("top left", ...) are single tokens, so
every answer of the world is one token.
"""
from __future__ import annotations

from pathlib import Path

from llava import prompts as P
from llava.demo import world
from llava.eval.perception import DIRECT_ANSWER_SUFFIX
from llava.tiny.word_tokenizer import build_word_tokenizer


def demo_corpus(samples_per_type: int = 40) -> list[str]:
    texts = list(P.PromptSet().to_dict().values())
    texts += [P.PromptSet().focus_prompt(q) for q, _ in P.FOCUS_EXAMPLES[:1]]
    texts.append(DIRECT_ANSWER_SUFFIX)  # the end-to-end baseline's prompt (vqa_mc.json)
    texts += [" ".join(world.COLORS), " ".join(world.SHAPES), " ".join(world.POSITIONS), " ".join(world.WORDS),
              " ".join(world.RELATIONS), " ".join(str(k) for k in range(10)), "Answer: A B C D",
              "left of right of above below object objects is are none that so has"]
    for n in range(samples_per_type):
        for t, qtype in enumerate(world.QUESTION_TYPES):
            item = world.make_mc(0, "vocab", n * len(world.QUESTION_TYPES) + t, qtype, world.LETTERS[n % 4])
            q = item.question
            texts += [world.describe(item.scene), item.mmstar_question, item.thinking(), q.statement, q.focus,
                      world.focus_for(q.text)]
    return texts


def build_demo_tokenizer(save_dir: str | Path | None = None):
    """The word-level tokenizer of the demo (same ids on every machine and run)."""
    return build_word_tokenizer(demo_corpus(), save_dir=save_dir, phrases=world.POSITIONS)
