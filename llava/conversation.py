"""Chat templates with LLaVA-NeXT's names (`conv_templates`, `SeparatorStyle`, `Conversation`).

lmms-eval's `llava_onevision` wrapper drives these: `conv_templates["qwen_1_5"].copy()`,
`append_message(conv.roles[0], question)`, `append_message(conv.roles[1], None)`, `get_prompt()`,
`conv.messages[-1][1] = answer`, and `conv.sep` as the stop string. Training renders the same
conversation through `segments()`, so the prompt a model is trained on is byte-for-byte the prompt
it is evaluated with.
"""
from __future__ import annotations

import dataclasses
from enum import Enum, auto


class SeparatorStyle(Enum):
    """LLaVA-NeXT's member names; only CHATML and PLAIN are rendered by this project."""

    SINGLE = auto()
    TWO = auto()
    MPT = auto()
    PLAIN = auto()
    CHATML = auto()
    LLAMA_2 = auto()
    LLAMA_3 = auto()
    QWEN = auto()
    GEMMA = auto()


@dataclasses.dataclass
class Conversation:
    """A conversation in one template. `messages` holds mutable [role, text-or-None] pairs."""

    system: str
    roles: tuple[str, str]
    messages: list = dataclasses.field(default_factory=list)
    offset: int = 0
    sep_style: SeparatorStyle = SeparatorStyle.CHATML
    sep: str = "<|im_end|>"
    sep2: str | None = None
    version: str = "Unknown"
    skip_next: bool = False

    def append_message(self, role: str, message: str | None) -> None:
        self.messages.append([role, message])

    def copy(self) -> "Conversation":
        return dataclasses.replace(self, messages=[[role, msg] for role, msg in self.messages])

    def segments(self) -> list[tuple[str, bool]]:
        """The prompt as (text, is_target) pieces; targets are what an assistant turn must produce.

        CHATML: `<|im_start|>assistant\\n` headers are context; the answer and its `<|im_end|>` are
        targets; the `\\n` after `<|im_end|>` is context (generation stops at `<|im_end|>`, so the
        model never has to produce it). PLAIN: user text is context; the answer and the separator
        after it are targets. A trailing assistant message of None renders the generation prompt.
        """
        for role, message in self.messages:
            if message is not None and not isinstance(message, str):
                raise TypeError(f"message of role {role!r} must be a string or None, got {type(message).__name__}")
        if self.sep_style == SeparatorStyle.CHATML:
            return self._chatml_segments()
        if self.sep_style == SeparatorStyle.PLAIN:
            return self._plain_segments()
        raise NotImplementedError(
            f"separator style {self.sep_style.name} is not rendered by this project; "
            f"use a template from {sorted(conv_templates)}")

    def _chatml_segments(self) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        if self.system:
            out.append((self.system + self.sep + "\n", False))
        for role, message in self.messages:
            if message is None:
                out.append((role + "\n", False))
            elif role == self.roles[1]:
                out += [(role + "\n", False), (message + self.sep, True), ("\n", False)]
            else:
                out.append((role + "\n" + message + self.sep + "\n", False))
        return out

    def _plain_segments(self) -> list[tuple[str, bool]]:
        # Matches LLaVA's caption pretraining text `<image>` + caption + `\n`: nothing between the
        # user part and the answer, the separator after each answer.
        out: list[tuple[str, bool]] = [(self.system, False)] if self.system else []
        # Both roles are "" here, so turns are told apart by position (user first), as in LLaVA.
        for index, (_, message) in enumerate(self.messages):
            if message is None:
                continue
            if index % 2 == 1:
                out.append((message + self.sep, True))
            else:
                out.append((message, False))
        return out

    def get_prompt(self) -> str:
        return "".join(text for text, _ in self.segments())

    def dict(self) -> dict:
        return {
            "system": self.system,
            "roles": self.roles,
            "messages": [[role, msg] for role, msg in self.messages],
            "offset": self.offset,
            "sep": self.sep,
            "sep2": self.sep2,
        }


conv_qwen = Conversation(
    system="<|im_start|>system\nYou are a helpful assistant.",
    roles=("<|im_start|>user", "<|im_start|>assistant"),
    version="qwen",
    sep_style=SeparatorStyle.CHATML,
    sep="<|im_end|>",
)

conv_plain = Conversation(
    system="",
    roles=("", ""),
    version="plain",
    sep_style=SeparatorStyle.PLAIN,
    sep="\n",
)

conv_templates: dict[str, Conversation] = {
    "qwen_1_5": conv_qwen,
    "qwen_2": conv_qwen,
    "plain": conv_plain,
}

default_conversation = conv_qwen


def get_conv_template(name: str) -> Conversation:
    """A fresh copy of the template called `name` (exact key)."""
    try:
        return conv_templates[name].copy()
    except KeyError:
        raise KeyError(f"unknown conversation template {name!r}; available: {sorted(conv_templates)}") from None
