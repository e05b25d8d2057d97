"""Decoupled extract-then-think evaluation (``llava-eval``; see docs/evaluation.md).

Modules: ``benchmarks`` (MMStar, VMCBench, generic JSONL), ``focus`` (stage 0), ``perception``
(stage 1), ``reasoning`` / ``reasoning_vllm`` (stage 2), ``protocol`` (the paper's and the improved
stage-2 settings), ``thinking_budget`` (per-row budget and blocking), ``reflexive_tokens`` (which ids
are blocked), ``scoring`` / ``mcq_letter`` (parsing, MMStar rules), ``artifacts`` (resumable JSONL),
``model_signature`` (cache keys from model content), ``lmms_logs`` (lmms-eval sample logs),
``lmms_plugin`` (lmms-eval model and tasks), ``pipeline`` (cached stage wiring), ``cli``.
"""
