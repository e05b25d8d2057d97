"""Stage 2: a text-only reasoner answers each question from its description.

The reasoner is any causal LM with a chat template (Qwen3 in the paper), run batched through
transformers, thinking on or off. The protocol (``llava.eval.protocol``; the paper's by default)
decides the sampling switch, which token ids are blocked and how the per-row
:class:`ThinkingBudgetProcessor` treats each row; docs/evaluation.md describes both protocols.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from tqdm import tqdm

from llava.eval.artifacts import JsonlArtifact
from llava.eval.protocol import PROTOCOLS, Protocol
from llava.eval.reflexive_tokens import BlockedSet, select_blocked_ids
from llava.eval.text_generation import SamplingSettings, chat_prompt, generate_batches, load_causal_lm
from llava.eval.thinking_budget import ThinkingBudgetProcessor, special_ids
from llava.prompts import PromptSet

DEFAULT_BUDGET = 4096


def paper_sampling(thinking: bool, do_sample: str = "model", *, budget: int | None = DEFAULT_BUDGET,
                   greedy: bool = False) -> SamplingSettings:
    """The authors' generate() arguments: thinking T 0.6 / top-p 0.95 / budget+1024 new tokens,
    direct T 0.7 / top-p 0.8 / 1024; ``do_sample`` from the model's generation_config ("model")
    or always on ("on"). ``budget`` None (no cap) keeps the default budget's token limit;
    ``greedy`` drops the sampling settings and keeps the token limit."""
    switch = None if do_sample == "model" else True
    if thinking:
        limit = (DEFAULT_BUDGET if budget is None else budget) + 1024
        sampling = SamplingSettings(do_sample=switch, temperature=0.6, top_p=0.95, max_new_tokens=limit)
    else:
        sampling = SamplingSettings(do_sample=switch, temperature=0.7, top_p=0.8, max_new_tokens=1024)
    if greedy:
        return SamplingSettings(do_sample=False, max_new_tokens=sampling.max_new_tokens)
    return sampling


@dataclass
class ReasoningConfig:
    reasoner: str
    thinking: bool = True
    budget: int | None = DEFAULT_BUDGET       # thinking tokens; None: no cap
    protocol: Protocol = PROTOCOLS["paper"]
    block_reflexive: bool = True              # only used with thinking on
    blocked_words: tuple[str, ...] | None = None       # None: the reflexive words (and, on Qwen3, the authors' ids)
    blocked_token_ids: tuple[int, ...] | None = None   # explicit ids replace everything else
    sampling: SamplingSettings = field(default_factory=lambda: paper_sampling(True))
    batch_size: int = 16
    seed: int = 0
    dtype: str = "auto"
    device: str | None = None
    attn_implementation: str | None = None

    def settings(self) -> dict:
        """What decides the outputs (not batch size or device): part of the artifact's cache key."""
        d = asdict(self)
        for key in ("batch_size", "device", "attn_implementation", "reasoner"):
            d.pop(key)
        d["protocol"].pop("answer_line")   # a scoring choice: it does not change the outputs
        d["protocol"]["name"] = self.protocol.generation_label()
        if not self.thinking:
            d.update(budget=None, block_reflexive=False, blocked_words=None, blocked_token_ids=None)
        return d

    def run_label(self) -> str:
        if not self.thinking:
            return "direct"
        parts = ["think", f"b{self.budget}" if self.budget else "nobudget"]
        if not self.block_reflexive:
            parts.append("noblock")
        return "-".join(parts + [self.protocol.generation_label()])


def resolve_blocked(tokenizer, cfg: ReasoningConfig) -> BlockedSet | None:
    """The ids this run blocks (None: thinking off or blocking disabled)."""
    if not cfg.thinking or not cfg.block_reflexive:
        return None
    return select_blocked_ids(tokenizer, cfg.protocol.blocked_set, cfg.blocked_words, cfg.blocked_token_ids)


def build_processor_factory(tokenizer, cfg: ReasoningConfig, blocked: BlockedSet | None = None):
    """Per-batch logits processors for the config (None when nothing needs constraining)."""
    if not cfg.thinking or (cfg.budget is None and not cfg.block_reflexive):
        return None
    think_end, newline = special_ids(tokenizer)
    if blocked is None:
        blocked = resolve_blocked(tokenizer, cfg)
    ids = list(blocked.ids) if blocked is not None else []
    base = ThinkingBudgetProcessor(think_end, newline, cfg.budget, ids, rules=cfg.protocol.rules())
    return lambda prompt_len: [base.for_prompt_length(prompt_len)]


def reasoning_items(questions, descriptions: dict[str, str]) -> list[dict]:
    """Join benchmark questions with their descriptions; a question without one is an error."""
    missing = [q.index for q in questions if q.index not in descriptions]
    if missing:
        raise KeyError(f"{len(missing)} question(s) have no description (first: {missing[:5]}); "
                       "run stage 1 for them or check that the description file matches the benchmark")
    return [dict(q.record(), description=descriptions[q.index]) for q in questions]


def split_thinking(token_ids: list[int], think_end_id: int | None) -> int | None:
    """Number of generated tokens up to and including ``</think>`` (None when never closed)."""
    if think_end_id is None or think_end_id not in token_ids:
        return None
    return token_ids.index(think_end_id) + 1


def run_reasoning(items: list[dict], cfg: ReasoningConfig, artifact: JsonlArtifact,
                  prompts: PromptSet | None = None, model=None, tokenizer=None,
                  blocked: BlockedSet | None = None) -> list[dict]:
    """Answer every item not yet in ``artifact``; return all records in item order."""
    prompts = prompts or PromptSet()
    todo = [it for it in items if it["index"] not in artifact]
    if todo:
        if model is None:
            model, tokenizer = load_causal_lm(cfg.reasoner, cfg.dtype, cfg.device, cfg.attn_implementation)
        factory = build_processor_factory(tokenizer, cfg, blocked)
        think_end = special_ids(tokenizer)[0] if cfg.thinking else None
        by_key = {str(it["index"]): it for it in todo}
        texts = {k: chat_prompt(tokenizer, prompts.reasoning_prompt(it["description"], it["question"],
                                                                    cfg.thinking),
                                enable_thinking=cfg.thinking)
                 for k, it in by_key.items()}
        bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=f"reason ({cfg.run_label()})",
                   unit="q", dynamic_ncols=True)
        with bar:
            for batch in generate_batches(model, tokenizer, texts, cfg.sampling, cfg.batch_size,
                                          seed=cfg.seed, processors=factory, progress=bar):
                artifact.append(dict(by_key[g.key], prompt=texts[g.key], output=g.text,
                                     num_tokens=g.num_tokens, stopped=g.stopped,
                                     thinking_tokens=split_thinking(g.token_ids, think_end))
                                for g in batch)
    return [artifact.get(it["index"]) for it in items]


def with_overrides(sampling: SamplingSettings, **overrides) -> SamplingSettings:
    """Paper settings with the user's explicit values (None = keep)."""
    return replace(sampling, **{k: v for k, v in overrides.items() if v is not None})
