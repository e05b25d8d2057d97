"""Text-only conversations for training a plain causal LM (the Extract+Think reasoner).

Prompt format: the whole conversation is rendered with the tokenizer's own chat template
(`apply_chat_template`), and the prompt before every assistant turn is exactly what
`llava.eval.text_generation.chat_prompt` renders at evaluation time (same `enable_thinking`),
so training and evaluation prompts are byte-identical. Labels cover each assistant turn's text
and its closing `<|im_end|>`; everything else (system, user turns, the assistant header, the
newline after `<|im_end|>`) is masked. Text segments are tokenised one by one (prompt pieces apart
from answer pieces), so the prompt's token ids are exactly those evaluation feeds the model.
Items carry empty image lists, so the shared collator, sampler and trainer work unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from llava.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX
from llava.data.collator import SupervisedCollator
from llava.data.dataset import SupervisedDataset, _Skip
from llava.data.mixture import image_list

END_OF_TURN = "<|im_end|>"  # ChatML (Qwen family): the token that closes every turn
ROLES = {"system": "system", "human": "user", "gpt": "assistant"}
IMAGE_IN_TEXT_ONLY = "image_in_text_only"


# ---- conversations ------------------------------------------------------------------------------


def text_only_problem(record: dict) -> tuple[str, str] | None:
    """Load-time check of one record for text-only training: (reason, detail) or None.

    Runs before the general checks of llava/data/mixture.py (`load_mixture(record_check=...)`), so
    a sample with an image is reported as such, not as a missing image file.
    """
    conv = record.get("conversations")
    images = image_list(record)
    placeholders = sum(t.get("value", "").count(DEFAULT_IMAGE_TOKEN) for t in conv
                       if isinstance(t, dict) and isinstance(t.get("value"), str)) if isinstance(conv, list) else 0
    if images or placeholders:
        return IMAGE_IN_TEXT_ONLY, (f"text-only training (--text_only True) takes no images, but the sample has "
                                    f"{len(images)} image(s) and {placeholders} {DEFAULT_IMAGE_TOKEN} placeholder(s); "
                                    "drop the image key or train it with the perception path")
    if not isinstance(conv, list) or not all(isinstance(t, dict) for t in conv):
        return None  # the general checks name the problem
    roles = [t.get("from") for t in conv]
    body = roles[1:] if roles[:1] == ["system"] else roles
    expected = ["human", "gpt"] * (len(body) // 2)
    if not body or body != expected:
        return "malformed_conversation", (f"expected an optional system turn, then human/gpt pairs ending with gpt; "
                                          f"got {roles}")
    return None


def to_messages(conversations: list[dict]) -> list[dict]:
    """LLaVA turns (`from`: system/human/gpt, `value`) -> chat-template messages (`role`, `content`)."""
    return [{"role": ROLES[t["from"]], "content": t["value"]} for t in conversations]


def _render(tokenizer, messages: list[dict], enable_thinking: bool | None, generation_prompt: bool) -> str:
    # Same call as llava.eval.text_generation.chat_prompt (which renders one user turn).
    kwargs = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt, **kwargs)


@dataclass
class RenderedConversation:
    text: str                        # the whole conversation as the chat template renders it
    targets: list[tuple[int, int]]   # character spans of the assistant turns (with their END_OF_TURN)

    def segments(self) -> list[tuple[str, bool]]:
        """(text, is_target) pieces covering `text` in order."""
        out, pos = [], 0
        for start, end in self.targets:
            if start > pos:
                out.append((self.text[pos:start], False))
            out.append((self.text[start:end], True))
            pos = end
        if pos < len(self.text):
            out.append((self.text[pos:], False))
        return out


def render_conversation(tokenizer, conversations: list[dict], enable_thinking: bool | None = True
                        ) -> RenderedConversation:
    """Render with the chat template and locate every assistant turn.

    The text is the whole conversation as the template renders it. Assistant turn k starts where
    the template's prompt for it ends: the turns before it rendered with `add_generation_prompt=True`
    (for one user turn: `chat_prompt` exactly) must be a prefix of the text; it ends after its
    END_OF_TURN. Templates whose rendered history lacks the generation prompt's suffix (e.g. the
    empty think block of `enable_thinking=False` in a simple ChatML template) get the last turn as
    "evaluation prompt + answer + END_OF_TURN" instead, so the trained prompt is still the one
    evaluation shows. Anything else raises `_Skip("template_mismatch", ...)`.
    """
    messages = to_messages(conversations)
    assistant = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
    text = _render(tokenizer, messages, enable_thinking, generation_prompt=False)
    last_prompt = _render(tokenizer, messages[:assistant[-1]], enable_thinking, generation_prompt=True)
    if not text.startswith(last_prompt):
        if enable_thinking is False and "<think>" in messages[assistant[-1]]["content"]:
            raise _Skip("template_mismatch", "the answer has thinking text but --enable_thinking False puts an "
                                             "empty think block into the prompt; use --enable_thinking True")
        text = last_prompt + messages[assistant[-1]]["content"] + END_OF_TURN
    targets = []
    for k in assistant:
        prompt = _render(tokenizer, messages[:k], enable_thinking, generation_prompt=True)
        if not text.startswith(prompt) or (targets and len(prompt) < targets[-1][1]):
            raise _Skip("template_mismatch", f"the chat template's prompt for assistant turn {k} is not a prefix "
                                             "of the rendered conversation (it renders the history differently)")
        end = text.find(END_OF_TURN, len(prompt))
        if end < 0:
            raise _Skip("template_mismatch", f"no {END_OF_TURN} closes assistant turn {k}")
        targets.append((len(prompt), end + len(END_OF_TURN)))
    return RenderedConversation(text, targets)


@dataclass
class EncodedConversation:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


def encode_conversation(tokenizer, conversations: list[dict], enable_thinking: bool | None = True,
                        model_max_length: int | None = None, overlong: str = "skip") -> EncodedConversation:
    """Token ids and labels (IGNORE_INDEX outside the assistant turns) of one conversation.

    Longer than `model_max_length`: `overlong="skip"` raises `_Skip("too_long")`; "truncate" cuts
    from the right, and a sample left without any label raises `_Skip("all_labels_masked")`.
    """
    rendered = render_conversation(tokenizer, conversations, enable_thinking)
    ids, labels = [], []
    for piece, is_target in rendered.segments():
        piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
        ids += piece_ids
        labels += piece_ids if is_target else [IGNORE_INDEX] * len(piece_ids)
    truncated = False
    if model_max_length is not None and len(ids) > model_max_length:
        if overlong != "truncate":
            raise _Skip("too_long", f"{len(ids)} tokens > model_max_length {model_max_length}; raise "
                                    "--model_max_length, shorten the sample, or pass --overlong truncate")
        ids, labels, truncated = ids[:model_max_length], labels[:model_max_length], True
    # The first label is never predicted (nothing comes before it): it does not count as a target.
    if all(x == IGNORE_INDEX for x in labels[1:]):
        raise _Skip("all_labels_masked", f"no assistant token left to learn in the first {len(ids)} tokens "
                                         f"(truncated: {truncated}); raise --model_max_length")
    return EncodedConversation(ids, labels, truncated)


# ---- dataset and collator ------------------------------------------------------------------------


class TextOnlyDataset(SupervisedDataset):
    """`SupervisedDataset` (deterministic replacement + per-sample skip records) for text-only
    conversations; items carry empty image lists so the shared collator and trainer work as is."""

    def __init__(self, mixture, tokenizer, enable_thinking: bool | None = True, model_max_length: int = 32768,
                 overlong: str = "skip") -> None:
        super().__init__(mixture, tokenizer, None, None, "chat_template", model_max_length, overlong)
        self.enable_thinking = enable_thinking

    def _build(self, record: dict, entry) -> dict:
        enc = encode_conversation(self.tokenizer, record["conversations"], self.enable_thinking,
                                  self.model_max_length, self.overlong)
        return {"input_ids": torch.tensor(enc.input_ids, dtype=torch.long),
                "labels": torch.tensor(enc.labels, dtype=torch.long), "images": [], "image_sizes": [],
                "modalities": [], "num_tokens": len(enc.input_ids)}


@dataclass
class TextOnlyCollator(SupervisedCollator):
    """The shared collator (padding or packing, `meta` bookkeeping) without the image inputs that a
    plain causal LM's forward does not take."""

    def __call__(self, items: list[dict]) -> dict:
        batch = super().__call__(items)
        for key in ("images", "image_sizes", "modalities"):
            batch.pop(key)
        return batch
