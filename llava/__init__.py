"""Extract+Think perception models (LLaVA-OneVision architecture) and their training/evaluation."""

__version__ = "0.1.0"
