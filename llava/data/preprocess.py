"""Tokenize a LLaVA-format conversation into input_ids + labels for training.

The text is rendered by the same `llava.conversation` template that inference uses, so training
and evaluation prompts are identical. Labels (not IGNORE_INDEX) are exactly the target segments of
the template: for `qwen_1_5` every assistant answer plus its `<|im_end|>` (not the system prompt,
not user turns, not the `<|im_start|>assistant\\n` header, not the `\\n` after `<|im_end|>`); for
`plain` the caption plus its trailing `\\n`. Unlike LLaVA-NeXT, user-turn `\\n`/`<|im_start|>`/
`<|im_end|>` tokens are not trained.

Problems with a sample raise `SampleSkipped` carrying a `SkipReason`, so the dataset can count and
report them by id instead of crashing or training on a sample with loss 0.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from llava.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.conversation import Conversation, SeparatorStyle, get_conv_template
from llava.mm_utils import tokenizer_prefix_ids

_USER_ROLES = ("human", "user")
_ASSISTANT_ROLES = ("gpt", "assistant")


class SkipReason(str, enum.Enum):
    """Why a sample cannot be trained on; the value is a short stable name for reports."""

    MALFORMED_CONVERSATION = "malformed_conversation"
    IMAGE_COUNT_MISMATCH = "image_count_mismatch"
    TRUNCATED_INSIDE_IMAGE = "truncated_inside_image"
    ALL_LABELS_MASKED = "all_labels_masked"


class SampleSkipped(ValueError):
    """A sample that must be skipped; `reason` is a SkipReason, `str(error)` says why and how to fix."""

    def __init__(self, reason: SkipReason, detail: str, sample: "TokenizedSample | None" = None):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sample = sample


@dataclass
class TokenizedSample:
    """input_ids / labels (torch.long, 1-D); images are single IMAGE_TOKEN_INDEX placeholders."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    num_images: int
    # Length the language model sees: text tokens + every image's real token count.
    num_tokens: int
    num_target_tokens: int
    truncated: bool

    @property
    def all_masked(self) -> bool:
        return self.num_target_tokens == 0


def preprocess_conversation(
    conversations: Sequence[Mapping[str, str]],
    tokenizer,
    template: str = "qwen_1_5",
    *,
    num_image_tokens: Sequence[int] | None = None,
    model_max_length: int | None = None,
    system_message: str | None = None,
) -> TokenizedSample:
    """Tokenize one sample's `conversations` (`[{"from": "human"|"gpt", "value": ...}, ...]`).

    - `template`: a key of `llava.conversation.conv_templates` (`qwen_1_5`, `plain`).
    - `num_image_tokens`: one count per `<image>` placeholder, in order of appearance (see
      `llava.image.num_image_tokens`); required when there are placeholders and a length limit.
    - `model_max_length`: truncate from the right so text + image tokens fit; a cut that would
      remove any part of an image raises `SampleSkipped(TRUNCATED_INSIDE_IMAGE)`.
    - `system_message`: replaces the template's system prompt (a leading `{"from": "system"}`
      turn does the same); `plain` has no system prompt and ignores it.
    Raises `SampleSkipped` for malformed conversations, placeholder/image count mismatches,
    truncation inside an image and samples without any trained token.
    """
    conv = _build_conversation(conversations, template, system_message)
    pieces = _split_images(conv.segments())
    num_images = sum(1 for text, _ in pieces if text is None)
    image_lengths = _image_lengths(num_image_tokens, num_images, model_max_length)

    texts = [text for text, _ in pieces if text is not None]
    encoded = iter(tokenizer(texts, add_special_tokens=False).input_ids if texts else [])
    input_ids = tokenizer_prefix_ids(tokenizer)
    labels = [IGNORE_INDEX] * len(input_ids)
    for text, is_target in pieces:
        if text is None:
            input_ids.append(IMAGE_TOKEN_INDEX)
            labels.append(IGNORE_INDEX)
            continue
        ids = next(encoded)
        input_ids.extend(ids)
        labels.extend(ids if is_target else [IGNORE_INDEX] * len(ids))

    input_ids, labels, num_tokens, truncated = _truncate(input_ids, labels, image_lengths, model_max_length)
    sample = TokenizedSample(
        input_ids=torch.tensor(input_ids, dtype=torch.long),
        labels=torch.tensor(labels, dtype=torch.long),
        num_images=num_images,
        num_tokens=num_tokens,
        num_target_tokens=sum(1 for label in labels if label != IGNORE_INDEX),
        truncated=truncated,
    )
    if sample.all_masked:
        why = (f"truncation to model_max_length={model_max_length} removed every answer token"
               if truncated else "the conversation has no assistant tokens to learn")
        raise SampleSkipped(SkipReason.ALL_LABELS_MASKED,
                            f"{why}; the sample would train with loss 0 — shorten it or raise model_max_length",
                            sample)
    return sample


def _build_conversation(conversations, template: str, system_message: str | None) -> Conversation:
    turns = list(conversations or [])
    if turns and _role(turns[0], 0) == "system":
        system_message = _value(turns[0], 0)
        turns = turns[1:]
    if not turns:
        raise SampleSkipped(SkipReason.MALFORMED_CONVERSATION, "the conversation has no turns")
    conv = get_conv_template(template)
    if system_message is not None and conv.system:
        # Keep the template's header (e.g. `<|im_start|>system\n`), replace the text after it.
        header = conv.system.split("\n", 1)[0] + "\n" if "\n" in conv.system else ""
        conv.system = header + system_message
    for index, turn in enumerate(turns):
        role, value = _role(turn, index), _value(turn, index)
        expected = _USER_ROLES if index % 2 == 0 else _ASSISTANT_ROLES
        if role not in expected:
            raise SampleSkipped(
                SkipReason.MALFORMED_CONVERSATION,
                f"turn {index} is from {role!r} but turns must alternate human/gpt starting with human")
        if index % 2 == 1 and DEFAULT_IMAGE_TOKEN in value:
            raise SampleSkipped(SkipReason.MALFORMED_CONVERSATION,
                                f"turn {index} (gpt) contains {DEFAULT_IMAGE_TOKEN}; images belong in human turns")
        if conv.sep_style == SeparatorStyle.CHATML:
            _check_no_control_tokens(value, index)
        if conv.sep_style == SeparatorStyle.PLAIN and index % 2 == 0:
            # Caption pretraining: the human text is dropped, only its image placeholders stay.
            value = DEFAULT_IMAGE_TOKEN * value.count(DEFAULT_IMAGE_TOKEN)
        conv.append_message(conv.roles[index % 2], value)
    if conv.sep_style == SeparatorStyle.PLAIN and len(turns) != 2:
        raise SampleSkipped(SkipReason.MALFORMED_CONVERSATION,
                            f"the plain template takes one human and one gpt turn, got {len(turns)} turns")
    return conv


_CHATML_CONTROL = ("<|im_start|>", "<|im_end|>")


def _check_no_control_tokens(value: str, index: int) -> None:
    """A literal `<|im_end|>` in the data would be read as a turn boundary and corrupt the labels."""
    for control in _CHATML_CONTROL:
        if control in value:
            raise SampleSkipped(SkipReason.MALFORMED_CONVERSATION,
                                f"turn {index} contains the chat control token {control}; remove it from the data")


def _role(turn, index: int) -> str:
    if not isinstance(turn, Mapping) or "from" not in turn:
        raise SampleSkipped(SkipReason.MALFORMED_CONVERSATION, f"turn {index} has no 'from' field: {turn!r:.80}")
    return str(turn["from"]).lower()


def _value(turn, index: int) -> str:
    value = turn.get("value")
    if not isinstance(value, str):
        raise SampleSkipped(SkipReason.MALFORMED_CONVERSATION,
                            f"turn {index} has no string 'value' (got {type(value).__name__})")
    return value


def _split_images(segments: list[tuple[str, bool]]) -> list[tuple[str | None, bool]]:
    """Merge neighbouring segments of the same kind and cut out `<image>` (returned as None).

    Merging makes the context between two targets one string, tokenized exactly as the inference
    prompt is by `tokenizer_image_token`.
    """
    merged: list[list] = []
    for text, is_target in segments:
        if merged and merged[-1][1] == is_target:
            merged[-1][0] += text
        else:
            merged.append([text, is_target])
    pieces: list[tuple[str | None, bool]] = []
    for text, is_target in merged:
        for index, chunk in enumerate(text.split(DEFAULT_IMAGE_TOKEN)):
            if index:
                pieces.append((None, False))
            if chunk:
                pieces.append((chunk, is_target))
    return pieces


def _image_lengths(num_image_tokens, num_images: int, model_max_length: int | None) -> list[int]:
    if num_image_tokens is None:
        if num_images and model_max_length is not None:
            raise ValueError("num_image_tokens is required to truncate a sample with images: pass one "
                             "count per <image> (llava.image.num_image_tokens)")
        return [1] * num_images
    counts = [int(n) for n in num_image_tokens]
    if len(counts) != num_images:
        raise SampleSkipped(
            SkipReason.IMAGE_COUNT_MISMATCH,
            f"the text has {num_images} {DEFAULT_IMAGE_TOKEN} placeholder(s) but {len(counts)} image(s) were given; "
            f"put one {DEFAULT_IMAGE_TOKEN} per image in the human turns")
    return counts


def _truncate(input_ids: list[int], labels: list[int], image_lengths: list[int], max_length: int | None):
    """Keep the longest prefix whose expanded length fits; never cut into or drop an image."""
    lengths = []
    images = iter(image_lengths)
    for token in input_ids:
        lengths.append(next(images) if token == IMAGE_TOKEN_INDEX else 1)
    total = sum(lengths)
    if max_length is None or total <= max_length:
        return input_ids, labels, total, False
    kept, used = 0, 0
    while kept < len(input_ids) and used + lengths[kept] <= max_length:
        used += lengths[kept]
        kept += 1
    dropped_images = sum(1 for token in input_ids[kept:] if token == IMAGE_TOKEN_INDEX)
    if dropped_images:
        raise SampleSkipped(
            SkipReason.TRUNCATED_INSIDE_IMAGE,
            f"the sample needs {total} tokens but model_max_length is {max_length}; truncating would cut "
            f"{dropped_images} image(s) — raise model_max_length, use fewer/smaller images or shorten the text")
    return input_ids[:kept], labels[:kept], used, True
