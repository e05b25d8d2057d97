"""The paper's stage-2 reasoner as an lmms-eval model named ``qwen3`` (the authors' model_args).

    python -m lmms_eval --model qwen3 --tasks mmstar_prism_stage_2 --include_path TASKS \\
        --model_args "pretrained=1.7B;Qwen/Qwen3-4B;True,stage_1_path=STAGE1_SAMPLES.jsonl" --batch_size 8

``pretrained`` is ``PERCEPTION_SIZE;REASONER;ENABLE_THINKING`` as in the authors' commands (the
size only labels the run). Each request's question is wrapped with its stage-1 description in the
project's stage-2 prompt and answered with the same batched generation and per-row protocol as
``llava-eval reason`` (so greedy outputs are equal). Extra model_args: ``greedy=True``,
``budget=N`` (0: none), ``max_new_tokens=N``, ``protocol=paper|improved``, ``blocked_set``,
``block_after_think``, ``boost``, ``budget_ends_at``, ``do_sample``, ``prompts=FILE``,
``dtype``, ``device_map`` (default ``auto``, as the authors load it), ``seed``.
"""
from __future__ import annotations

import sys

from lmms_eval.api.model import lmms
from tqdm import tqdm

from llava.eval.lmms_logs import response_text, sample_log_records
from llava.eval.protocol import get_protocol
from llava.eval.reasoning import (DEFAULT_BUDGET, ReasoningConfig, build_processor_factory, paper_sampling,
                                  resolve_blocked)
from llava.eval.text_generation import chat_prompt, generate_batches, load_causal_lm
from llava.prompts import load_prompt_overrides


def parse_pretrained(value: str) -> tuple[str, str, bool]:
    """``"SIZE;MODEL;ENABLE_THINKING"`` -> (size, model, thinking)."""
    parts = str(value).split(";")
    if len(parts) != 3 or parts[2].strip().lower() not in ("true", "false"):
        raise ValueError(f"qwen3: pretrained={value!r} must be 'PERCEPTION_SIZE;REASONER;True|False' "
                         "(e.g. pretrained=1.7B;Qwen/Qwen3-4B;True)")
    return parts[0].strip(), parts[1].strip(), parts[2].strip().lower() == "true"


def read_stage_1(path: str) -> dict[str, str]:
    """``{str(doc_id): description}`` from a stage-1 sample log (either ``filtered_resps`` shape)."""
    return {str(rec["doc_id"]): response_text(rec["filtered_resps"], where) for where, rec in sample_log_records(path)}


class Qwen3Reasoner(lmms):
    is_simple = True

    def __init__(self, pretrained: str, stage_1_path: str | None = None, batch_size=1, device=None,
                 max_batch_size=None, greedy: bool = False, budget: int = DEFAULT_BUDGET,
                 max_new_tokens: int | None = None, protocol: str = "paper", prompts: str | None = None,
                 dtype: str = "auto", device_map: str | None = "auto", seed: int = 0, **overrides) -> None:
        super().__init__()
        self.perception_size, reasoner, thinking = parse_pretrained(pretrained)
        known = {"blocked_set", "block_after_think", "boost", "budget_ends_at", "do_sample"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"qwen3: unknown model_args {unknown}; see llava/eval/lmms_plugin/qwen3_reasoner.py")
        chosen = get_protocol(protocol).with_overrides(**overrides)
        budget = int(budget) or None
        sampling = paper_sampling(thinking, chosen.do_sample, budget=budget, greedy=greedy)
        if max_new_tokens:
            sampling.max_new_tokens = int(max_new_tokens)
        self.cfg = ReasoningConfig(reasoner=reasoner, thinking=thinking, budget=budget, protocol=chosen,
                                   sampling=sampling, batch_size=int(batch_size), seed=int(seed), dtype=dtype,
                                   device=device)
        self.prompts = load_prompt_overrides(prompts)
        self.descriptions = read_stage_1(stage_1_path) if stage_1_path else None
        self._model, self._tokenizer = load_causal_lm(reasoner, dtype, device, device_map=device_map or None)
        self.blocked = resolve_blocked(self._tokenizer, self.cfg)
        print(f"[qwen3] {reasoner}: thinking {'on' if thinking else 'off'}, protocol {chosen.name}, batch size "
              f"{self.cfg.batch_size}" + (f"; blocking {self.blocked.detail}" if self.blocked else ""),
              file=sys.stderr, flush=True)

    @property
    def batch_size(self) -> int:
        return self.cfg.batch_size

    def _prompt(self, question: str, doc_id, task: str) -> str:
        if self.descriptions is None:
            return question
        key = str(doc_id)
        if key not in self.descriptions:
            raise KeyError(f"qwen3: the stage-1 samples have no response for doc_id {key} of task {task}; "
                           "run stage 1 on the same data (and --limit) first")
        return self.prompts.reasoning_prompt(self.descriptions[key], question, self.cfg.thinking)

    def generate_until(self, requests) -> list[str]:
        texts = {}
        for n, request in enumerate(requests):
            question, _gen_kwargs, _visual, doc_id, task, _split = request.args
            texts[n] = (doc_id, chat_prompt(self._tokenizer, self._prompt(question, doc_id, task),
                                            enable_thinking=self.cfg.thinking))
        # Batches as `llava-eval reason` forms them: prompts in document order, then sorted by length.
        ordered = {str(n): text for n, (_, text) in sorted(texts.items(), key=lambda kv: kv[1][0])}
        factory = build_processor_factory(self._tokenizer, self.cfg, self.blocked)
        outputs = {}
        with tqdm(total=len(ordered), desc="Model Responding", disable=self.rank != 0) as bar:
            for batch in generate_batches(self._model, self._tokenizer, ordered, self.cfg.sampling,
                                          self.cfg.batch_size, seed=self.cfg.seed, processors=factory,
                                          progress=bar):
                outputs.update({g.key: g.text for g in batch})
        return [outputs[str(n)] for n in range(len(requests))]

    def generate_until_multi_round(self, requests) -> list[str]:
        raise NotImplementedError("qwen3: multi-round generation is not supported (stage 2 is one turn)")

    def loglikelihood(self, requests):
        raise NotImplementedError("qwen3: loglikelihood is not supported; the Extract+Think tasks generate")
