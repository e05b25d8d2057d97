"""Train the demo's tiny text-only reasoner on ``reasoner.json`` with the Hugging Face Trainer.

    python -m llava.demo.train_reasoner --data WORLD/reasoner.json --model LLM_DIR --output-dir OUT

Why not ``llava-train``: it always builds a perception model (LLM + vision tower + projector), so it
cannot train a plain causal LM that ``llava-eval reason --reasoner`` loads. This script is the
minimal text-only equivalent.

The prompt is rendered exactly as ``llava-eval`` stage 2 renders it (``chat_prompt``: the
tokenizer's chat template, one user turn, no system prompt, thinking on); the loss covers only the
assistant's answer and its closing ``<|im_end|>``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from llava.constants import IGNORE_INDEX

END_OF_TURN = "<|im_end|>"


def encode_sample(tokenizer, sample: dict, thinking: bool = True, max_length: int = 1024) -> dict:
    """``input_ids`` and ``labels`` (prompt masked) of one LLaVA-format text sample (human -> gpt)."""
    from llava.eval.text_generation import chat_prompt

    turns = sample.get("conversations") or []
    if len(turns) != 2 or turns[0].get("from") != "human" or turns[1].get("from") != "gpt":
        raise ValueError(f"sample {sample.get('id')!r}: expected one human turn then one gpt turn, "
                         f"got {[t.get('from') for t in turns]}")
    prompt = tokenizer(chat_prompt(tokenizer, turns[0]["value"], enable_thinking=thinking),
                       add_special_tokens=False)["input_ids"]
    answer = tokenizer(turns[1]["value"] + END_OF_TURN, add_special_tokens=False)["input_ids"]
    ids = (prompt + answer)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt) + answer)[:max_length]
    if all(x == IGNORE_INDEX for x in labels):
        raise ValueError(f"sample {sample.get('id')!r}: the prompt fills all {max_length} tokens, no answer "
                         "left to learn; raise --max-length")
    return {"input_ids": ids, "labels": labels}


def pad_batch(features: list[dict], pad_id: int) -> dict:
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, :n] = torch.tensor(f["input_ids"])
        labels[i, :n] = torch.tensor(f["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="reasoner.json of the shapes world")
    ap.add_argument("--model", required=True, help="start model folder (causal LM + tokenizer)")
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--max-steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report-to", default="none")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    path = Path(args.data)
    if not path.is_file():
        raise SystemExit(f"--data {path}: no such file (build the world first: python -m llava.demo.build DIR)")
    samples = json.loads(path.read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    # Only as many samples as the steps can use: tokenizing 20K samples would cost more than training.
    needed = min(len(samples), args.max_steps * args.batch_size)
    data = [encode_sample(tokenizer, s, max_length=args.max_length) for s in samples[:needed]]
    print(f"[reasoner] {len(data)} samples of {path} (text-only; Hugging Face Trainer, not llava-train)", flush=True)

    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    training_args = TrainingArguments(
        output_dir=args.output_dir, max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, warmup_steps=max(1, args.max_steps // 20), lr_scheduler_type="cosine",
        adam_beta2=0.98, max_grad_norm=1.0, weight_decay=0.0, logging_steps=max(1, args.max_steps // 10),
        save_strategy="no", report_to=args.report_to, seed=args.seed, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, remove_unused_columns=False)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    trainer = Trainer(model=model, args=training_args, train_dataset=data,
                      data_collator=lambda feats: pad_batch(feats, pad_id))
    trainer.train()
    trainer.save_model(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    print(f"[reasoner] saved {args.output_dir}", flush=True)


if __name__ == "__main__":
    main()
