"""Stage 2 through vLLM (optional extra: ``pip install -e .[vllm]``, CUDA only).

vLLM has no per-row step-aware logits processors that work the same across its versions, so the
thinking budget is enforced by two-phase generation, exactly at the token level:
phase 1 samples at most ``budget - 2`` thinking tokens (reflexive tokens biased to -100, stop at
``</think>``); a row that did not close gets the newline and ``</think>`` tokens appended -- the
same tokens the transformers processor forces at steps ``budget-1`` and ``budget`` -- and phase 2
continues from the token ids (no re-tokenisation), still blocking the reflexive tokens when the
protocol blocks after ``</think>`` (the paper's). Not reproduced: the soft logit boost of the last
5% of the budget, and the paper's forcing of a newline and ``</think>`` at steps budget-1 and
budget for a row that already closed its thinking by itself (docs/evaluation.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from tqdm import tqdm

from llava.eval.artifacts import JsonlArtifact
from llava.eval.reasoning import ReasoningConfig, split_thinking
from llava.eval.reflexive_tokens import BlockedSet
from llava.eval.text_generation import chat_prompt
from llava.eval.thinking_budget import special_ids
from llava.prompts import PromptSet

BLOCK_BIAS = -100.0  # the most negative bias OpenAI-style validators accept; exp(-100) ~ 0


def import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise ImportError("the vLLM backend needs the optional extra: pip install -e '.[vllm]' "
                          "(CUDA machines only); or use --backend transformers") from e
    return vllm


@dataclass
class ThinkingResult:
    """What phase 1 left: the tokens so far and, if unfinished, the prompt for phase 2."""
    generated: list[int]
    continuation: list[int] | None  # prompt ids for phase 2; None when the answer is complete
    remaining: int                  # new tokens phase 2 may still produce


def after_thinking(prompt_ids: list[int], generated: list[int], hit_length: bool, think_end: int,
                   newline: int, eos_ids: set[int], max_new_tokens: int) -> ThinkingResult:
    """Decide phase 2 for one request from its phase-1 tokens.

    ``hit_length``: phase 1 stopped at its ``budget - 2`` token cap (still thinking).
    """
    generated = list(generated)
    if generated and generated[-1] in eos_ids:
        return ThinkingResult(generated, None, 0)   # finished (answered without closing, or empty)
    if think_end in generated:
        generated = generated[:generated.index(think_end) + 1]
    elif hit_length:
        generated += [newline, think_end]
    else:
        return ThinkingResult(generated, None, 0)
    remaining = max_new_tokens - len(generated)
    if remaining <= 0:
        return ThinkingResult(generated, None, 0)
    return ThinkingResult(generated, prompt_ids + generated, remaining)


def sampling_kwargs(cfg: ReasoningConfig) -> dict:
    s = cfg.sampling
    if s.do_sample is False:
        return {"temperature": 0.0}
    kwargs = {"temperature": s.temperature if s.temperature is not None else 1.0,
              "top_p": s.top_p if s.top_p is not None else 1.0, "seed": cfg.seed}
    if s.top_k is not None:
        kwargs["top_k"] = s.top_k
    return kwargs


def run_reasoning_vllm(items: list[dict], cfg: ReasoningConfig, artifact: JsonlArtifact,
                       prompts: PromptSet | None = None, blocked: BlockedSet | None = None) -> list[dict]:
    vllm = import_vllm()
    prompts = prompts or PromptSet()
    todo = [it for it in items if it["index"] not in artifact]
    if not todo:
        return [artifact.get(it["index"]) for it in items]
    llm = vllm.LLM(model=cfg.reasoner, dtype=cfg.dtype if cfg.dtype != "fp32" else "float32", seed=cfg.seed)
    tokenizer = llm.get_tokenizer()
    eos_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    texts = [chat_prompt(tokenizer, prompts.reasoning_prompt(it["description"], it["question"], cfg.thinking),
                         enable_thinking=cfg.thinking) for it in todo]
    prompt_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    base = sampling_kwargs(cfg)
    total = cfg.sampling.max_new_tokens
    think_end = special_ids(tokenizer)[0] if cfg.thinking else None
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc="reason (vllm)", unit="q")
    bias = {i: BLOCK_BIAS for i in blocked.ids} if blocked is not None and blocked.ids else None
    if cfg.thinking and cfg.budget:
        think_end, newline = special_ids(tokenizer)
        phase1 = vllm.SamplingParams(max_tokens=min(cfg.budget - 2, total), stop_token_ids=[think_end],
                                     logit_bias=bias, **base)
        phase2_bias = bias if cfg.protocol.block_after_think else None
        outs = llm.generate([{"prompt_token_ids": p} for p in prompt_ids], phase1)
        results = [after_thinking(p, list(o.outputs[0].token_ids), o.outputs[0].finish_reason == "length",
                                  think_end, newline, eos_ids, total) for p, o in zip(prompt_ids, outs)]
        pending = [i for i, r in enumerate(results) if r.continuation is not None]
        if pending:
            outs2 = llm.generate([{"prompt_token_ids": results[i].continuation} for i in pending],
                                 [vllm.SamplingParams(max_tokens=results[i].remaining, logit_bias=phase2_bias, **base)
                                  for i in pending])
            for i, o in zip(pending, outs2):
                results[i].generated += list(o.outputs[0].token_ids)
        generated = [r.generated for r in results]
    else:
        outs = llm.generate([{"prompt_token_ids": p} for p in prompt_ids],
                            vllm.SamplingParams(max_tokens=total, logit_bias=bias, **base))
        generated = [list(o.outputs[0].token_ids) for o in outs]
    records = []
    for it, text, ids in zip(todo, texts, generated):
        stopped = bool(ids) and ids[-1] in eos_ids
        body = ids[:-1] if stopped else ids
        records.append(dict(it, prompt=text, output=tokenizer.decode(body, skip_special_tokens=True),
                            num_tokens=len(body), stopped=stopped,
                            thinking_tokens=split_thinking(body, think_end)))
    artifact.append(records)
    bar.update(len(todo))
    bar.close()
    return [artifact.get(it["index"]) for it in items]
