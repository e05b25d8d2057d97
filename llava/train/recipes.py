"""What differs between the two kinds of training run; everything else is `llava.train.train.run`.

- `PerceptionRecipe`: the LLaVA perception model (S0 projector pretraining to visual extraction
  tuning): a LLaVA-NeXT checkpoint or an LLM plus a vision tower, images, the conversation
  template of `--conv_template`.
- `TextOnlyRecipe` (`--text_only True`): a plain causal LM (the reasoner) on text-only
  conversations rendered with its own chat template (`llava.data.text_only`); no tower, no
  projector, and the output stays a plain causal-LM folder (`AutoModelForCausalLM` loads it).
"""
from __future__ import annotations

import logging

from llava.data.lengths import ImageTokenSpec

logger = logging.getLogger("llava.train")


class PerceptionRecipe:
    check_images = True
    record_check = None

    def preflight(self, model_args, data_args, training_args):
        """Every cheap check, before the distributed backend and the model: seconds, not minutes."""
        from llava.conversation import conv_templates
        from llava.data.mixture import check_specs, read_specs
        from llava.train.model_source import inspect_model_source

        source = inspect_model_source(model_args.model_name_or_path, perception=True)
        if not source.is_llava:
            from llava.model.vision_towers import resolve_vision_tower

            try:
                resolve_vision_tower(model_args.vision_tower)
            except (ValueError, FileNotFoundError) as e:
                raise FileNotFoundError(f"--vision_tower {model_args.vision_tower}: {e}") from None
        specs, _ = read_specs(data_args.data_path, data_args.image_folder)
        check_specs(specs)
        if data_args.conv_template not in conv_templates:
            raise ValueError(f"--conv_template {data_args.conv_template!r}: use one of {sorted(conv_templates)}")
        model_args.tunable_parts()
        logger.info("model: %s (%s); data: %s (%d dataset(s))", source.path, source.kind, data_args.data_path,
                    len(specs))
        return source

    def model_kind(self, source) -> str:
        return source.kind

    def build_model(self, model_args, training_args, source):
        """(model, image_processor), trainable parts chosen."""
        from llava.train import model_setup

        model, image_processor = model_setup.build_model(model_args, training_args, source)
        return model_setup.configure_training(model, model_args, training_args), image_processor

    def use_packing(self, setting: str, model) -> bool:
        from llava.train.model_setup import use_packing

        return use_packing(setting, model)

    def length_template(self, data_args) -> str:
        return data_args.conv_template

    def image_token_spec(self, model) -> ImageTokenSpec:
        from llava.train.model_setup import image_token_spec

        return image_token_spec(model)

    def dataset(self, mixture, tokenizer, image_processor, model, data_args, training_args):
        from llava.data.dataset import SupervisedDataset

        return SupervisedDataset(mixture, tokenizer, image_processor, self.image_token_spec(model),
                                 data_args.conv_template, training_args.model_max_length, data_args.overlong)

    def collator(self, tokenizer, packing: bool, training_args):
        from llava.data.collator import SupervisedCollator

        return SupervisedCollator(pad_token_id=tokenizer.pad_token_id, packed=packing,
                                  max_packed_tokens=training_args.model_max_length)


class TextOnlyRecipe:
    check_images = False

    @staticmethod
    def record_check(record: dict):
        from llava.data.text_only import text_only_problem

        return text_only_problem(record)

    def preflight(self, model_args, data_args, training_args):
        from llava.data.mixture import check_specs, read_specs
        from llava.data.text_only import END_OF_TURN
        from llava.train.model_setup import load_tokenizer
        from llava.train.model_source import inspect_model_source

        source = inspect_model_source(model_args.model_name_or_path)
        if source.is_llava:
            raise ValueError(f"--text_only True: --model_name_or_path {source.path} is a LLaVA perception "
                             "checkpoint; text-only training needs a plain causal LM (e.g. Qwen/Qwen3-1.7B)")
        if "mm_language_model" not in model_args.tunable_parts():
            raise ValueError(f"--text_only True trains the language model, but --mm_tunable_parts is "
                             f"{model_args.mm_tunable_parts!r}; include mm_language_model")
        if training_args.push_to_hub_repo:
            raise ValueError("--push_to_hub_repo is for perception checkpoints (llava-export); upload a text-only "
                             "output folder with `hf upload REPO OUTPUT_DIR`")
        if data_args.overlong not in ("skip", "truncate"):
            raise ValueError(f"--overlong {data_args.overlong!r}: use skip or truncate")
        specs, _ = read_specs(data_args.data_path, data_args.image_folder)
        check_specs(specs)
        tokenizer = load_tokenizer(source, training_args.model_max_length)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"--model_name_or_path {source.path}: the tokenizer has no chat template; text-only "
                             "training renders prompts with it (use an instruct/chat model such as Qwen3)")
        if END_OF_TURN not in tokenizer.get_vocab():
            raise ValueError(f"--model_name_or_path {source.path}: the tokenizer has no {END_OF_TURN} token; "
                             "text-only training supports ChatML chat templates (Qwen family)")
        logger.info("text-only: model %s (%s), enable_thinking=%s; data: %s (%d dataset(s)); ignored here: "
                    "--vision_tower, --conv_template, --image_aspect_ratio and the other image settings",
                    source.path, source.config.get("model_type"), data_args.enable_thinking, data_args.data_path,
                    len(specs))
        return source

    def model_kind(self, source) -> str:
        return "text_only_language_model"

    def build_model(self, model_args, training_args, source):
        """A plain causal LM from `source.path` (ZeRO-3 partitioned at load time when DeepSpeed is on).
        Cache off while training, gradient checkpointing, optional LoRA; the whole LM trains. Unlike
        the perception path, no stage settings go into the config: it stays a plain LM config."""
        from transformers import AutoModelForCausalLM

        from llava.model.attention import choose_attn_implementation
        from llava.train.model_setup import checkpointing_lora_and_parts, training_dtype
        from llava.train.parts import LLM

        attn = choose_attn_implementation(model_args.attn_implementation)
        model = AutoModelForCausalLM.from_pretrained(source.path, dtype=training_dtype(training_args),
                                                     attn_implementation=attn, trust_remote_code=False)
        logger.info("text-only: %s (%s, %.1fM parameters) from %s", type(model).__name__, model.config.model_type,
                    sum(int(getattr(p, "ds_numel", 0) or p.numel()) for p in model.parameters()) / 1e6, source.path)
        model.config.use_cache = False
        return checkpointing_lora_and_parts(model, model_args, training_args, [LLM]), None

    def use_packing(self, setting: str, model) -> bool:
        from llava.train.model_setup import use_packing

        return use_packing(setting, model, reads_packed_rows=True)

    def length_template(self, data_args) -> str:
        # Length estimates (text + a ChatML template's per-turn overhead), only for grouping.
        return "qwen_1_5"

    def image_token_spec(self, model) -> ImageTokenSpec:
        return ImageTokenSpec("text_only", None, 0, 0, "none")  # no image tokens: text is counted alone

    def dataset(self, mixture, tokenizer, image_processor, model, data_args, training_args):
        from llava.data.text_only import TextOnlyDataset

        return TextOnlyDataset(mixture, tokenizer, data_args.enable_thinking, training_args.model_max_length,
                               data_args.overlong)

    def collator(self, tokenizer, packing: bool, training_args):
        from llava.data.text_only import TextOnlyCollator

        return TextOnlyCollator(pad_token_id=tokenizer.pad_token_id, packed=packing,
                                max_packed_tokens=training_args.model_max_length)


def recipe_for(model_args):
    """The recipe of a run: text-only with `--text_only True`, the perception model otherwise."""
    return TextOnlyRecipe() if model_args.text_only else PerceptionRecipe()
