"""Extract+Think perception models (LLaVA-OneVision architecture) and their training/evaluation."""

__version__ = "0.1.0"


def _register_with_transformers() -> None:
    # So that `AutoConfig.from_pretrained(<LLaVA-NeXT checkpoint>)` works after `import llava`
    # (lmms-eval's llava_onevision wrapper relies on it).
    from llava.model.language_models.registration import register_configs

    register_configs()


_register_with_transformers()
