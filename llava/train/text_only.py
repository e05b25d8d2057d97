"""`llava-train --text_only True`: the same trainer on a plain causal LM and text-only conversations.

Used for the reasoner of Extract+Think (a Qwen3 LLM that reads a description and answers): no
vision tower, no projector. What stays the same as the perception path: argument parsing, the data
mixture (YAML or one .json/.jsonl/.parquet/.arrow file) with its load-time checks and the
skipped-samples report, `LLaVATrainer` (optimizer, metrics, W&B, grouped sampler), the consolidated
ZeRO-3 save and the extras (config, generation config, tokenizer, `llava_train_args.json`). The
output folder is a plain causal-LM folder that `AutoModelForCausalLM.from_pretrained` and
`llava-eval reason --reasoner DIR` load.

Prompt format: the whole conversation is rendered with the tokenizer's own chat template
(`apply_chat_template`), and the prompt before every assistant turn is exactly what
`llava.eval.text_generation.chat_prompt` renders at evaluation time (same `enable_thinking`),
so training and evaluation prompts are byte-identical. Labels cover each assistant turn's text
and its closing `<|im_end|>`; everything else (system, user turns, the assistant header, the
newline after `<|im_end|>`) is masked. Text segments are tokenised one by one (prompt pieces apart
from answer pieces), so the prompt's token ids are exactly those evaluation feeds the model.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from llava.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX
from llava.data.collator import SupervisedCollator
from llava.data.dataset import SupervisedDataset, _Skip
from llava.data.mixture import image_list

logger = logging.getLogger("llava.train")

END_OF_TURN = "<|im_end|>"  # ChatML (Qwen family): the token that closes every turn
ROLES = {"system": "system", "human": "user", "gpt": "assistant"}
IMAGE_IN_TEXT_ONLY = "image_in_text_only"


# ---- conversations ------------------------------------------------------------------------------


def text_only_problem(record: dict) -> tuple[str, str] | None:
    """Load-time check of one record for text-only training: (reason, detail) or None.

    Runs before the general checks of llava/data/mixture.py (`load_mixture(record_check=...)`), so
    a sample with an image is reported as such, not as a missing image file.
    """
    conv = record.get("conversations")
    images = image_list(record)
    placeholders = sum(t.get("value", "").count(DEFAULT_IMAGE_TOKEN) for t in conv
                       if isinstance(t, dict) and isinstance(t.get("value"), str)) if isinstance(conv, list) else 0
    if images or placeholders:
        return IMAGE_IN_TEXT_ONLY, (f"text-only training (--text_only True) takes no images, but the sample has "
                                    f"{len(images)} image(s) and {placeholders} {DEFAULT_IMAGE_TOKEN} placeholder(s); "
                                    "drop the image key or train it with the perception path")
    if not isinstance(conv, list) or not all(isinstance(t, dict) for t in conv):
        return None  # the general checks name the problem
    roles = [t.get("from") for t in conv]
    body = roles[1:] if roles[:1] == ["system"] else roles
    expected = ["human", "gpt"] * (len(body) // 2)
    if not body or body != expected:
        return "malformed_conversation", (f"expected an optional system turn, then human/gpt pairs ending with gpt; "
                                          f"got {roles}")
    return None


def to_messages(conversations: list[dict]) -> list[dict]:
    """LLaVA turns (`from`: system/human/gpt, `value`) -> chat-template messages (`role`, `content`)."""
    return [{"role": ROLES[t["from"]], "content": t["value"]} for t in conversations]


def _render(tokenizer, messages: list[dict], enable_thinking: bool | None, generation_prompt: bool) -> str:
    # Same call as llava.eval.text_generation.chat_prompt (which renders one user turn).
    kwargs = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt, **kwargs)


@dataclass
class RenderedConversation:
    text: str                        # the whole conversation as the chat template renders it
    targets: list[tuple[int, int]]   # character spans of the assistant turns (with their END_OF_TURN)

    def segments(self) -> list[tuple[str, bool]]:
        """(text, is_target) pieces covering `text` in order."""
        out, pos = [], 0
        for start, end in self.targets:
            if start > pos:
                out.append((self.text[pos:start], False))
            out.append((self.text[start:end], True))
            pos = end
        if pos < len(self.text):
            out.append((self.text[pos:], False))
        return out


def render_conversation(tokenizer, conversations: list[dict], enable_thinking: bool | None = True
                        ) -> RenderedConversation:
    """Render with the chat template and locate every assistant turn.

    The text is the whole conversation as the template renders it. Assistant turn k starts where
    the template's prompt for it ends: the turns before it rendered with `add_generation_prompt=True`
    (for one user turn: `chat_prompt` exactly) must be a prefix of the text; it ends after its
    END_OF_TURN. Templates whose rendered history lacks the generation prompt's suffix (e.g. the
    empty think block of `enable_thinking=False` in a simple ChatML template) get the last turn as
    "evaluation prompt + answer + END_OF_TURN" instead, so the trained prompt is still the one
    evaluation shows. Anything else raises `_Skip("template_mismatch", ...)`.
    """
    messages = to_messages(conversations)
    assistant = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
    text = _render(tokenizer, messages, enable_thinking, generation_prompt=False)
    last_prompt = _render(tokenizer, messages[:assistant[-1]], enable_thinking, generation_prompt=True)
    if not text.startswith(last_prompt):
        if enable_thinking is False and "<think>" in messages[assistant[-1]]["content"]:
            raise _Skip("template_mismatch", "the answer has thinking text but --enable_thinking False puts an "
                                             "empty think block into the prompt; use --enable_thinking True")
        text = last_prompt + messages[assistant[-1]]["content"] + END_OF_TURN
    targets = []
    for k in assistant:
        prompt = _render(tokenizer, messages[:k], enable_thinking, generation_prompt=True)
        if not text.startswith(prompt) or (targets and len(prompt) < targets[-1][1]):
            raise _Skip("template_mismatch", f"the chat template's prompt for assistant turn {k} is not a prefix "
                                             "of the rendered conversation (it renders the history differently)")
        end = text.find(END_OF_TURN, len(prompt))
        if end < 0:
            raise _Skip("template_mismatch", f"no {END_OF_TURN} closes assistant turn {k}")
        targets.append((len(prompt), end + len(END_OF_TURN)))
    return RenderedConversation(text, targets)


@dataclass
class EncodedConversation:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


def encode_conversation(tokenizer, conversations: list[dict], enable_thinking: bool | None = True,
                        model_max_length: int | None = None, overlong: str = "skip") -> EncodedConversation:
    """Token ids and labels (IGNORE_INDEX outside the assistant turns) of one conversation.

    Longer than `model_max_length`: `overlong="skip"` raises `_Skip("too_long")`; "truncate" cuts
    from the right, and a sample left without any label raises `_Skip("all_labels_masked")`.
    """
    rendered = render_conversation(tokenizer, conversations, enable_thinking)
    ids, labels = [], []
    for piece, is_target in rendered.segments():
        piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
        ids += piece_ids
        labels += piece_ids if is_target else [IGNORE_INDEX] * len(piece_ids)
    truncated = False
    if model_max_length is not None and len(ids) > model_max_length:
        if overlong != "truncate":
            raise _Skip("too_long", f"{len(ids)} tokens > model_max_length {model_max_length}; raise "
                                    "--model_max_length, shorten the sample, or pass --overlong truncate")
        ids, labels, truncated = ids[:model_max_length], labels[:model_max_length], True
    # The first label is never predicted (nothing comes before it): it does not count as a target.
    if all(x == IGNORE_INDEX for x in labels[1:]):
        raise _Skip("all_labels_masked", f"no assistant token left to learn in the first {len(ids)} tokens "
                                         f"(truncated: {truncated}); raise --model_max_length")
    return EncodedConversation(ids, labels, truncated)


# ---- dataset and collator ------------------------------------------------------------------------


class TextOnlyDataset(SupervisedDataset):
    """`SupervisedDataset` (deterministic replacement + per-sample skip records) for text-only
    conversations; items carry empty image lists so the shared collator and trainer work as is."""

    def __init__(self, mixture, tokenizer, enable_thinking: bool | None = True, model_max_length: int = 32768,
                 overlong: str = "skip") -> None:
        super().__init__(mixture, tokenizer, None, None, "chat_template", model_max_length, overlong)
        self.enable_thinking = enable_thinking

    def _build(self, record: dict, entry) -> dict:
        enc = encode_conversation(self.tokenizer, record["conversations"], self.enable_thinking,
                                  self.model_max_length, self.overlong)
        return {"input_ids": torch.tensor(enc.input_ids, dtype=torch.long),
                "labels": torch.tensor(enc.labels, dtype=torch.long), "images": [], "image_sizes": [],
                "modalities": [], "num_tokens": len(enc.input_ids)}


@dataclass
class TextOnlyCollator(SupervisedCollator):
    """The shared collator (padding or packing, `meta` bookkeeping) without the image inputs that a
    plain causal LM's forward does not take."""

    def __call__(self, items: list[dict]) -> dict:
        batch = super().__call__(items)
        for key in ("images", "image_sizes", "modalities"):
            batch.pop(key)
        return batch


# ---- model ---------------------------------------------------------------------------------------


def preflight_text_only(model_args, data_args, training_args):
    """The cheap checks of the text-only path (llava/train/train.py `preflight` hands over here)."""
    from llava.data.mixture import check_specs, read_specs
    from llava.train.model_source import inspect_model_source

    source = inspect_model_source(model_args.model_name_or_path)
    if source.is_llava:
        raise ValueError(f"--text_only True: --model_name_or_path {source.path} is a LLaVA perception checkpoint; "
                         "text-only training needs a plain causal LM (e.g. Qwen/Qwen3-1.7B)")
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
    tokenizer = _tokenizer(source, training_args.model_max_length)
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


def _tokenizer(source, model_max_length: int):
    from llava.train.model_setup import load_tokenizer

    return load_tokenizer(source, model_max_length)


def build_text_model(model_args, training_args, source):
    """A plain causal LM from `source.path` (ZeRO-3 partitioned at load time when DeepSpeed is on)."""
    from transformers import AutoModelForCausalLM

    from llava.model.attention import choose_attn_implementation
    from llava.train.model_setup import _dtype

    attn = choose_attn_implementation(model_args.attn_implementation)
    model = AutoModelForCausalLM.from_pretrained(source.path, dtype=_dtype(training_args), attn_implementation=attn,
                                                 trust_remote_code=False)
    logger.info("text-only: %s (%s, %.1fM parameters) from %s", type(model).__name__, model.config.model_type,
                sum(int(getattr(p, "ds_numel", 0) or p.numel()) for p in model.parameters()) / 1e6, source.path)
    return model


def configure_text_training(model, model_args, training_args):
    """Cache off while training, gradient checkpointing, optional LoRA; the whole LM trains. Unlike
    the perception path, no stage settings go into the config: the output stays a plain LM config."""
    from llava.train.model_setup import checkpointing_lora_and_parts
    from llava.train.parts import LLM

    model.config.use_cache = False
    return checkpointing_lora_and_parts(model, model_args, training_args, [LLM])


def use_text_packing(setting: str, model) -> bool:
    """auto: on with flash_attention_2 (varlen kernels); transformers' causal LMs read the sample
    boundaries of a packed row from its restarting position_ids with any attention."""
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"--packing {setting!r}: use auto, on or off")
    attn = getattr(model.config, "_attn_implementation", None)
    packing = setting == "on" or (setting == "auto" and attn == "flash_attention_2")
    logger.info("packing: %s (setting %s, attention %s)", "on" if packing else "off", setting, attn)
    return packing


def no_image_spec():
    """Text-only samples have no image tokens: `mixture_lengths` then counts text only."""
    from llava.data.lengths import ImageTokenSpec

    return ImageTokenSpec("text_only", None, 0, 0, "none")


# ---- the run ---------------------------------------------------------------------------------------


def run_text_only(model_args, data_args, training_args, source) -> dict:
    """Text-only twin of llava/train/train.py `run`; returns its dict plus the trainer."""
    from transformers import set_seed

    from llava.data.lengths import mixture_lengths
    from llava.data.mixture import load_mixture
    from llava.train import model_setup
    from llava.train.callbacks import MixtureLoggingCallback, PartitionReportCallback
    from llava.train.train import resolve_resume, train_and_save
    from llava.train.trainer import LLaVATrainer

    set_seed(training_args.seed)
    resume = resolve_resume(training_args)
    tokenizer = _tokenizer(source, training_args.model_max_length)
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    mixture = load_mixture(data_args.data_path, data_args.image_folder, seed=seed, check_images=False,
                           max_bad_fraction=data_args.max_bad_fraction, record_check=text_only_problem)

    model = build_text_model(model_args, training_args, source)
    model = configure_text_training(model, model_args, training_args)
    packing = use_text_packing(data_args.packing, model)
    with training_args.main_process_first(desc="sample lengths"):
        # Estimates (text + the template's per-turn overhead), only for grouping similar lengths.
        lengths, has_image = (mixture_lengths(mixture, tokenizer, "qwen_1_5", no_image_spec(),
                                              data_args.length_cache_dir)
                              if data_args.group_by_modality_length else (None, None))
    dataset = TextOnlyDataset(mixture, tokenizer, data_args.enable_thinking, training_args.model_max_length,
                              data_args.overlong)
    collator = TextOnlyCollator(pad_token_id=tokenizer.pad_token_id, packed=packing,
                                max_packed_tokens=training_args.model_max_length)
    trainer = LLaVATrainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator,
                           processing_class=tokenizer, lengths=lengths, has_image=has_image,
                           save_extras=model_setup.extras_saver(model, tokenizer, None, model_args, data_args,
                                                                training_args))
    trainer.add_callback(MixtureLoggingCallback(mixture.summary(), model_args, data_args, "text_only_language_model",
                                                packing))
    if training_args.deepspeed:
        trainer.add_callback(PartitionReportCallback())
    result = train_and_save(trainer, mixture, training_args, resume)
    return {**result, "trainer": trainer}
