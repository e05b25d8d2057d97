"""Model side of a training run: tokenizer, build-or-load, LoRA, trainable parts, saving extras.

Kept apart from `train.py` so the entry point reads as a recipe and the model calls live in one
place. Building goes through `from_pretrained` (inside `llava.model`), which honours ZeRO-3's
partitioned initialisation when the Trainer's DeepSpeed config is active.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import torch

from llava.data.lengths import ImageTokenSpec
from llava.image.anyres import parse_grid_pinpoints
from llava.train.parts import set_trainable_parts, unwrap_model

logger = logging.getLogger(__name__)


def training_dtype(training_args) -> torch.dtype:
    """The dtype the model is built in: bf16 / fp16 when training in it, else fp32."""
    if training_args.bf16:
        return torch.bfloat16
    if training_args.fp16:
        return torch.float16
    return torch.float32


def load_tokenizer(source, model_max_length: int):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source.path, model_max_length=model_max_length, padding_side="right")
    if tok.pad_token_id is None:
        # Qwen tokenizers have <|endoftext|> for padding; anything else falls back to EOS.
        pad = "<|endoftext|>" if "<|endoftext|>" in tok.get_vocab() else tok.eos_token
        tok.pad_token = pad
    return tok


def build_model(model_args, training_args, source):
    """(model, image_processor): a fresh perception model on an LLM, or a previous stage's checkpoint."""
    from llava.model.attention import choose_attn_implementation

    attn = choose_attn_implementation(model_args.attn_implementation)
    dtype = training_dtype(training_args)
    if source.is_llava:
        from llava.model.builder import load_pretrained_model

        overrides = {"image_aspect_ratio": model_args.image_aspect_ratio}
        _, model, image_processor, _ = load_pretrained_model(source.path, None, None, device_map=None,
                                                             torch_dtype=dtype, attn_implementation=attn,
                                                             overwrite_config=overrides)
        tower = model.get_vision_tower()
        model.config.image_grid_pinpoints = _pinpoints(model_args.image_grid_pinpoints, tower.image_size)
        if model_args.mm_patch_merge_type != getattr(model.config, "mm_patch_merge_type", None):
            logger.warning("keeping the checkpoint's mm_patch_merge_type=%s (--mm_patch_merge_type %s is ignored "
                           "when continuing: it decides which weights exist)",
                           model.config.mm_patch_merge_type, model_args.mm_patch_merge_type)
        logger.info("continuing from LLaVA checkpoint %s", source.path)
    else:
        from llava.model.from_parts import build_perception_model

        model, _ = build_perception_model(
            source.path, model_args.vision_tower, projector_type=model_args.mm_projector_type,
            image_aspect_ratio=model_args.image_aspect_ratio, image_grid_pinpoints=model_args.image_grid_pinpoints,
            mm_patch_merge_type=model_args.mm_patch_merge_type,
            mm_vision_select_layer=model_args.mm_vision_select_layer,
            mm_vision_select_feature=model_args.mm_vision_select_feature,
            attn_implementation=attn, torch_dtype=dtype, seed=training_args.seed)
        image_processor = model.get_vision_tower().image_processor
        tower = model.get_vision_tower()
        model.config.image_grid_pinpoints = _pinpoints(model_args.image_grid_pinpoints, tower.image_size)
        logger.info("new perception model: LLM %s + vision tower %s + fresh %s projector", source.path,
                    model_args.vision_tower, model_args.mm_projector_type)
    return model, image_processor


def _pinpoints(value, crop_size: int) -> list[list[int]]:
    """Store pinpoints as an explicit [[w, h], ...] list (the released checkpoints' form)."""
    return [list(p) for p in parse_grid_pinpoints(value, crop_size)]


def configure_training(model, model_args, training_args):
    """Record the stage settings in the config, add LoRA, choose trainable parts, checkpointing."""
    cfg = model.config
    cfg.use_cache = False
    cfg.mm_tunable_parts = model_args.mm_tunable_parts
    cfg.mm_vision_tower_lr = training_args.mm_vision_tower_lr
    cfg.mm_projector_lr = training_args.mm_projector_lr
    cfg.tokenizer_model_max_length = training_args.model_max_length
    cfg.tokenizer_padding_side = "right"
    return checkpointing_lora_and_parts(model, model_args, training_args, model_args.tunable_parts())


def checkpointing_lora_and_parts(model, model_args, training_args, parts):
    """Gradient checkpointing inputs, optional LoRA, then which parts train (perception and text-only paths)."""
    if training_args.gradient_checkpointing:
        if training_args.gradient_checkpointing_kwargs is None:
            training_args.gradient_checkpointing_kwargs = {"use_reentrant": False}
        model.enable_input_require_grads()
    if model_args.lora_enable:
        model = _add_lora(model, model_args)
    set_trainable_parts(model, parts, lora=model_args.lora_enable)
    return model


def _add_lora(model, model_args):
    """LoRA on the language model's linear layers only (named exactly, never the vision tower)."""
    from peft import LoraConfig, get_peft_model

    from llava.train.parts import LLM, part_of_parameters

    wanted = {m.strip() for m in model_args.lora_target_modules.split(",") if m.strip()}
    which = part_of_parameters(model)
    targets = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in wanted \
                and which[id(module.weight)] == LLM and name != "lm_head":
            targets.append(name)
    if not targets:
        raise ValueError(f"--lora_target_modules {model_args.lora_target_modules!r} matches no language-model layer")
    config = LoraConfig(r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout,
                        target_modules=targets, bias="none", task_type="CAUSAL_LM")
    logger.info("LoRA r=%d alpha=%d on %d language-model layers (merged into the weights when saving)",
                model_args.lora_r, model_args.lora_alpha, len(targets))
    return get_peft_model(model, config)


def image_token_spec(model) -> ImageTokenSpec:
    cfg = unwrap_model(model).config
    tower = unwrap_model(model).get_vision_tower()
    return ImageTokenSpec(cfg.image_aspect_ratio, cfg.image_grid_pinpoints, tower.image_size,
                          tower.num_patches_per_side, getattr(cfg, "mm_patch_merge_type", "spatial_unpad"))


def use_packing(setting: str, model, *, reads_packed_rows: bool | None = None) -> bool:
    """auto: on with flash_attention_2 (varlen kernels skip padding entirely); with sdpa/eager the
    packed block-diagonal mask costs as much as padding, so auto leaves it off there.

    ``reads_packed_rows``: whether the model accepts the collator's packed rows; by default its
    class's ``supports_packed_sequences``. transformers' causal LMs read a packed row's sample
    boundaries from its restarting position_ids, so the text-only recipe passes True."""
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"--packing {setting!r}: use auto, on or off")
    attn = getattr(unwrap_model(model).config, "_attn_implementation", None)
    packing = setting == "on" or (setting == "auto" and attn == "flash_attention_2")
    if reads_packed_rows is None:
        reads_packed_rows = getattr(type(unwrap_model(model)), "supports_packed_sequences", False)
    if packing and not reads_packed_rows:
        # The collator's packed row is only understood by models that splice images per sample.
        if setting == "on":
            raise ValueError(f"--packing on: {type(unwrap_model(model)).__name__} does not accept packed rows "
                             "(supports_packed_sequences); use --packing off")
        packing = False
    logger.info("packing: %s (setting %s, attention %s)", "on" if packing else "off", setting, attn)
    return packing


TRAIN_ARGS_FILE = "llava_train_args.json"


def extras_saver(model, tokenizer, image_processor, model_args=None, data_args=None, training_args=None):
    """Writes config, generation config, tokenizer, image processor and the run's arguments
    (`llava_train_args.json`, read by llava-export for the model card) next to the weights."""

    def save(output_dir: str) -> None:
        core = unwrap_model(model)
        out = Path(output_dir)
        if training_args is not None:
            args = {"model": asdict(model_args), "data": asdict(data_args),
                    "training": {**training_args.to_dict(), "world_size": training_args.world_size}}
            (out / TRAIN_ARGS_FILE).write_text(json.dumps(args, indent=1, default=str))
        core.config.architectures = [type(core).__name__]
        use_cache, core.config.use_cache = core.config.use_cache, True  # off only while training
        core.config.save_pretrained(out)
        core.config.use_cache = use_cache
        if getattr(core, "generation_config", None) is not None:
            core.generation_config.save_pretrained(out)
        tokenizer.save_pretrained(out)
        if image_processor is not None and hasattr(image_processor, "save_pretrained"):
            image_processor.save_pretrained(out)

    return save
