"""Command-line arguments of `llava-train`, in three readable groups.

Defaults are the paper's (LLaVA-OneVision recipe, docs/training.md); the stage scripts in
`scripts/zero3/` set the per-stage values.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import transformers

TUNABLE_PARTS = ("mm_vision_tower", "mm_mlp_adapter", "mm_language_model")


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={
        "help": "A language model (hub id or folder; a fresh projector is added: stage S0) or a previous "
                "stage's LLaVA-NeXT-layout checkpoint (training continues from it). Decided from its "
                "config.json, never from the path."})
    vision_tower: str = field(default="google/siglip-so400m-patch14-384", metadata={
        "help": "Vision tower (hub id or folder). Used when starting from a language model; a checkpoint "
                "brings its own."})
    mm_projector_type: str = field(default="mlp2x_gelu", metadata={"help": "linear | mlp2x_gelu | mlpNx_gelu"})
    mm_vision_select_layer: int = field(default=-2)
    mm_vision_select_feature: str = field(default="patch")
    mm_patch_merge_type: str = field(default="spatial_unpad")
    image_aspect_ratio: str = field(default="anyres_max_9", metadata={
        "help": "anyres_max_N | anyres | pad | square (S0 projector pretraining uses square)"})
    image_grid_pinpoints: str = field(default="(1x1),...,(6x6)", metadata={
        "help": "LLaVA-NeXT range form in units of the crop size, or a list of [w, h] pixels"})
    mm_tunable_parts: str = field(default="mm_vision_tower,mm_mlp_adapter,mm_language_model", metadata={
        "help": f"Comma-separated trainable parts out of {', '.join(TUNABLE_PARTS)}"})
    attn_implementation: str = field(default="auto", metadata={
        "help": "auto (flash_attention_2 when installed on CUDA, sdpa otherwise) | flash_attention_2 | sdpa | eager"})
    text_only: bool = field(default=False, metadata={
        "help": "Train a plain causal LM (e.g. a Qwen3 reasoner) on text-only conversations: loaded with "
                "AutoModelForCausalLM, no vision tower or projector, prompts rendered with the tokenizer's "
                "chat template exactly as llava-eval renders them, saved as a plain causal-LM folder"})
    lora_enable: bool = field(default=False, metadata={"help": "LoRA on the language model (merged when saving)"})
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: str = field(default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")

    def __post_init__(self) -> None:
        from llava.model.projectors import check_projector_type

        check_projector_type(self.mm_projector_type, "--mm_projector_type")

    def tunable_parts(self) -> list[str]:
        parts = [p.strip() for p in self.mm_tunable_parts.split(",") if p.strip()]
        unknown = [p for p in parts if p not in TUNABLE_PARTS]
        if unknown or not parts:
            raise ValueError(f"--mm_tunable_parts {self.mm_tunable_parts!r}: use a comma-separated subset of "
                             f"{', '.join(TUNABLE_PARTS)}")
        return parts


@dataclass
class DataArguments:
    data_path: str = field(metadata={
        "help": "A YAML mixture (data_configs/*.yaml) or one .json/.jsonl/.parquet/.arrow file"})
    image_folder: str | None = field(default=None, metadata={
        "help": "Image folder for a single data file, or the default for YAML datasets without one"})
    conv_template: str = field(default="qwen_1_5", metadata={"help": "qwen_1_5 (chat) | plain (S0 captions)"})
    group_by_modality_length: bool = field(default=True, metadata={
        "help": "Group batches by modality and real token count (text + image tokens)"})
    packing: str = field(default="auto", metadata={
        "help": "Padding-free packing of each micro-batch into one row: auto (on with flash_attention_2) | "
                "on | off"})
    overlong: str = field(default="skip", metadata={
        "help": "Samples longer than --model_max_length: skip (and report) | truncate (text only, never an image)"})
    check_image_files: bool = field(default=True, metadata={
        "help": "Check at start that every image file exists (skipped samples are reported)"})
    max_bad_fraction: float = field(default=0.5, metadata={
        "help": "Abort when more than this fraction of a dataset is unusable (usually a wrong image_folder)"})
    enable_thinking: bool = field(default=True, metadata={
        "help": "--text_only: the chat template's enable_thinking switch (as `llava-eval ... --thinking`); "
                "must match the evaluation setting so train and eval prompts are identical"})
    length_cache_dir: str | None = field(default=None, metadata={
        "help": "Where sample lengths (tokens, image sizes) are cached; default ~/.cache/llava_train/lengths"})


@dataclass
class TrainingArguments(transformers.TrainingArguments):
    model_max_length: int = field(default=32768, metadata={
        "help": "Samples longer than this (text + image tokens) are skipped and reported"})
    mm_vision_tower_lr: float | None = field(default=None, metadata={
        "help": "Learning rate of the vision tower (default: --learning_rate)"})
    mm_projector_lr: float | None = field(default=None, metadata={
        "help": "Learning rate of the projector and image_newline (default: --learning_rate)"})
    push_to_hub_repo: str | None = field(default=None, metadata={
        "help": "After training, export (LLaVA-NeXT + transformers-native layouts) and upload to this Hub repo "
                "(token from `hf auth login` / HF_TOKEN; never logged)"})
    push_to_hub_private: bool = field(default=False)
    push_to_hub_revision: str | None = field(default=None)
    push_to_hub_layout: str = field(default="hf", metadata={"help": "hf (transformers-native) | llava"})
    continue_training: bool = field(default=False, metadata={
        "help": "The output folder holds a finished run: train it further (from its newest complete "
                "checkpoint, up to a larger --max_steps) instead of stopping with 'already complete'"})
    trust_checkpoint: bool = field(default=False, metadata={
        "help": "Resume without restricting what checkpoint-N/ pickles may hold. By default DeepSpeed's shards "
                "and the Trainer's state files are loaded as weights only (plus the few objects DeepSpeed and "
                "the Trainer write); a file holding anything else is refused, since unpickling it could run "
                "code. Only for checkpoints you trust (stage scripts: TRUST_CHECKPOINT=1)"})
