"""Training data: conversation tokenization (here) and the datasets built on it."""
from llava.data.preprocess import SampleSkipped, SkipReason, TokenizedSample, preprocess_conversation

__all__ = ["SampleSkipped", "SkipReason", "TokenizedSample", "preprocess_conversation"]
