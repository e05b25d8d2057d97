"""Stage-2 protocols: the paper's (the default) and the project's own variant, as named settings.

Each field is also a single command-line option that overrides the chosen protocol
(docs/evaluation.md, "Protocols", says what each changes and why):

==================  ====================  ================  ==========================================
field               paper                 improved          option
==================  ====================  ================  ==========================================
blocked_set         auto                  exact-words       --blocked-set
block_after_think   True                  False             --block-after-think on|off
boost               think-end-logit       own-logit         --boost
budget_ends_at      forced                think-end         --budget-ends-at
answer_line         raw                   stripped          --answer-line
do_sample           model                 on                --do-sample
==================  ====================  ================  ==========================================
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from llava.eval.reflexive_tokens import BLOCKED_SETS
from llava.eval.scoring import ANSWER_LINES
from llava.eval.thinking_budget import BOOSTS, BUDGET_ENDS, ProtocolRules

DO_SAMPLE = ("model", "on")


@dataclass(frozen=True)
class Protocol:
    name: str
    blocked_set: str           # which ids are blocked (reflexive_tokens.select_blocked_ids)
    block_after_think: bool    # keep blocking in the answer after </think>
    boost: str                 # near-budget boost of the newline and </think> logits
    budget_ends_at: str        # "forced": only the forced </think> ends the budget; "think-end": any
    answer_line: str           # "raw": last line as generated; "stripped": of the stripped output
    do_sample: str             # "model": from the reasoner's generation_config; "on": always sample

    def generation_label(self) -> str:
        """The named protocol this one generates like (the answer line only affects scoring)."""
        for name, named in PROTOCOLS.items():
            if replace(self, name=name, answer_line=named.answer_line) == named:
                return name
        return "custom"

    def rules(self) -> ProtocolRules:
        return ProtocolRules(block_after_think=self.block_after_think, boost=self.boost,
                             budget_ends_at=self.budget_ends_at)

    def with_overrides(self, **overrides) -> "Protocol":
        """This protocol with the given fields replaced (None = keep); renamed ``custom`` if changed."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown protocol fields {sorted(unknown)}")
        new = replace(self, **changes)
        _check(new)
        if any(getattr(new, k) != getattr(self, k) for k in changes):
            new = replace(new, name=f"{self.name}+custom")
        return new


def _check(p: Protocol) -> None:
    for value, allowed, option in ((p.blocked_set, BLOCKED_SETS, "--blocked-set"), (p.boost, BOOSTS, "--boost"),
                                   (p.budget_ends_at, BUDGET_ENDS, "--budget-ends-at"),
                                   (p.answer_line, ANSWER_LINES, "--answer-line"),
                                   (p.do_sample, DO_SAMPLE, "--do-sample")):
        if value not in allowed:
            raise ValueError(f"{option} {value!r} is not one of {list(allowed)}")


PROTOCOLS = {
    "paper": Protocol("paper", blocked_set="auto", block_after_think=True, boost="think-end-logit",
                      budget_ends_at="forced", answer_line="raw", do_sample="model"),
    "improved": Protocol("improved", blocked_set="exact-words", block_after_think=False, boost="own-logit",
                         budget_ends_at="think-end", answer_line="stripped", do_sample="on"),
}
DEFAULT_PROTOCOL = "paper"


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]
