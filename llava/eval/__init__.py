"""Decoupled extract-then-think evaluation (``llava-eval``; see eval/README.md).

Modules: ``benchmarks`` (MMStar, VMCBench, generic JSONL), ``focus`` (stage 0), ``perception``
(stage 1), ``reasoning`` / ``reasoning_vllm`` (stage 2), ``thinking_budget`` (per-row budget and
reflexive-token blocking), ``scoring`` (MMStar rules), ``artifacts`` (resumable JSONL),
``lmms_logs`` (lmms-eval sample logs), ``pipeline`` (cached stage wiring), ``cli``.
"""
