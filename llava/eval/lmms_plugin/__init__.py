"""lmms-eval plugin: the paper's stage-2 ``qwen3`` reasoner model and its two-stage task folders.

Installed with ``pip install -e ".[lmms-eval]"``; nothing is copied into lmms-eval. The model is
registered through the ``lmms_eval.models`` entry-point group (``registration``); task folders are
written by ``llava-eval lmms-eval-tasks`` and passed with ``--include_path``. docs/evaluation.md
gives the two commands.
"""
