"""Entry point of the ``lmms_eval.models`` group: lmms-eval calls this to learn the ``qwen3`` model."""
from __future__ import annotations

MODEL_ID = "qwen3"
MODEL_CLASS = "llava.eval.lmms_plugin.qwen3_reasoner.Qwen3Reasoner"


def qwen3_manifest():
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=MODEL_CLASS)
