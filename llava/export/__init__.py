"""Export checkpoints to the transformers-native and LLaVA-NeXT layouts, with a model card, and push to the Hub."""
from llava.export.hub import plan_upload, push_folder, push_to_hub_after_training
from llava.export.pipeline import export

__all__ = ["export", "plan_upload", "push_folder", "push_to_hub_after_training"]
