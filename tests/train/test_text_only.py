"""`llava-train --text_only True`: a plain causal LM (the reasoner) trained by the same trainer.

Label masks are compared with hand-written ChatML pieces (and with `chat_prompt`, the evaluation's
prompt renderer, byte for byte), also under the official Qwen3 chat template; a 1-process run must
learn a tiny deterministic task and save a folder transformers loads to the very same logits; the
2-process ZeRO-3 run goes through scripts/zero3/train_reasoner.sh (slow).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llava.constants import IGNORE_INDEX
from llava.data.dataset import _Skip
from llava.data.mixture import load_mixture
from llava.eval.text_generation import chat_prompt
from llava.data.text_only import (TextOnlyCollator, TextOnlyDataset, encode_conversation, render_conversation,
                                  text_only_problem)

REPO = Path(__file__).resolve().parents[2]
I = IGNORE_INDEX

# Qwen3's released chat template (Qwen/Qwen3-*, tokenizer_config.json), without its tools branch:
# it strips the thinking of answers before the last user turn and gives the last answer a think block.
QWEN3_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == 'user' and message.content is string and "
    "not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}"
    "{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
    "{%- for message in messages %}"
    "{%- if message.content is string %}{%- set content = message.content %}{%- else %}{%- set content = '' %}"
    "{%- endif %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}"
    "{%- elif message.role == 'assistant' %}{%- set reasoning_content = '' %}"
    "{%- if message.reasoning_content is string %}{%- set reasoning_content = message.reasoning_content %}"
    "{%- else %}{%- if '</think>' in content %}"
    "{%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}{%- endif %}"
    "{%- if loop.index0 > ns.last_query_index %}"
    "{%- if loop.last or (not loop.last and reasoning_content) %}"
    "{{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + "
    "content.lstrip('\\n') }}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + content }}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + content }}{%- endif %}"
    "{{- '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    from llava.tiny.models import save_tiny_qwen3_llm

    return save_tiny_qwen3_llm(tmp_path_factory.mktemp("text_only") / "llm")


@pytest.fixture(scope="module")
def tok(llm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llm_dir)


@pytest.fixture()
def qwen3_tok(tok):
    t = tok.__class__.from_pretrained(tok.name_or_path)
    t.chat_template = QWEN3_TEMPLATE
    return t


def _expected(tok, pieces):
    """ids and labels from hand-written (text, is_target) pieces."""
    ids, labels = [], []
    for text, target in pieces:
        t = tok(text, add_special_tokens=False)["input_ids"]
        ids += t
        labels += t if target else [I] * len(t)
    return ids, labels


def _turns(*values, system=None):
    turns = [{"from": "system", "value": system}] if system else []
    return turns + [{"from": "human" if i % 2 == 0 else "gpt", "value": v} for i, v in enumerate(values)]


# ---- (a) rendering and label masks ------------------------------------------------------------------

Q = "Description: the circle is red.\nQuestion: what color is the circle?"
A = "<think>\nthe circle is red\n</think>\n\nAnswer: red"


@pytest.mark.parametrize("thinking", [True, False])
def test_two_turn_prompt_is_chat_prompt_and_labels_are_the_answer(tok, thinking):
    answer = A if thinking else "Answer: red"
    header = "<|im_start|>user\n" + Q + "<|im_end|>\n<|im_start|>assistant\n"
    prompt = header if thinking else header + "<think>\n\n</think>\n\n"
    assert chat_prompt(tok, Q, enable_thinking=thinking) == prompt  # the evaluation's prompt, byte for byte

    rendered = render_conversation(tok, _turns(Q, answer), enable_thinking=thinking)
    # Thinking on: the template's own rendering. Off: the tiny template's history has no empty think
    # block, so the text is the evaluation prompt + answer (nothing after the closing <|im_end|>).
    pieces = [(prompt, False), (answer + "<|im_end|>", True)] + ([("\n", False)] if thinking else [])
    assert rendered.segments() == pieces
    assert rendered.text.startswith(chat_prompt(tok, Q, enable_thinking=thinking))
    enc = encode_conversation(tok, _turns(Q, answer), thinking)
    assert (enc.input_ids, enc.labels) == _expected(tok, pieces)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert enc.input_ids[:n_prompt] == tok(chat_prompt(tok, Q, thinking), add_special_tokens=False)["input_ids"]
    assert set(enc.labels[:n_prompt]) == {I} and enc.labels[n_prompt] != I
    assert tok.decode([x for x in enc.labels if x != I]) == answer + "<|im_end|>"
    if thinking:
        assert tok.decode(enc.input_ids) == tok.apply_chat_template(
            [{"role": "user", "content": Q}, {"role": "assistant", "content": answer}], tokenize=False)


def test_multi_turn_masks_everything_but_the_assistant_turns(tok):
    conv = _turns("Q1 one", "A1 red", "Q2 two", "A2 blue", system="You are helpful")
    enc = encode_conversation(tok, conv, enable_thinking=True)
    ids, labels = _expected(tok, [
        ("<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nQ1 one<|im_end|>\n<|im_start|>assistant\n",
         False),
        ("A1 red<|im_end|>", True),
        ("\n<|im_start|>user\nQ2 two<|im_end|>\n<|im_start|>assistant\n", False),
        ("A2 blue<|im_end|>", True),
        ("\n", False)])
    assert enc.input_ids == ids and enc.labels == labels
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    # Every trained <|im_end|> closes an assistant turn; the system and user ones (3) are masked.
    assert sum(1 for x in enc.labels if x == im_end) == 2 and enc.input_ids.count(im_end) == 5


def test_official_qwen3_template_two_and_four_turns(qwen3_tok):
    tok = qwen3_tok
    # Two turns, thinking on: the prompt is chat_prompt's, the answer keeps its think block.
    enc = encode_conversation(tok, _turns(Q, A), enable_thinking=True)
    prompt = chat_prompt(tok, Q, enable_thinking=True)
    assert prompt == "<|im_start|>user\n" + Q + "<|im_end|>\n<|im_start|>assistant\n"
    assert (enc.input_ids, enc.labels) == _expected(tok, [(prompt, False), (A + "<|im_end|>", True), ("\n", False)])
    # Thinking off, plain answer: the prompt ends with the empty think block, only the answer is trained.
    enc = encode_conversation(tok, _turns(Q, "Answer: red"), enable_thinking=False)
    prompt = chat_prompt(tok, Q, enable_thinking=False)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert (enc.input_ids, enc.labels) == _expected(tok, [(prompt, False), ("Answer: red<|im_end|>", True),
                                                          ("\n", False)])
    # Four turns: Qwen3 drops the earlier answer's thinking from the history; labels follow the render.
    enc = encode_conversation(tok, _turns("Q1", "<think>\nr1\n</think>\n\nA1", "Q2", "<think>\nr2\n</think>\n\nA2"),
                              enable_thinking=True)
    assert (enc.input_ids, enc.labels) == _expected(tok, [
        ("<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n", False), ("A1<|im_end|>", True),
        ("\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n", False),
        ("<think>\nr2\n</think>\n\nA2<|im_end|>", True), ("\n", False)])
    # A thinking answer with thinking off would train a prompt evaluation never shows: refused, with why.
    with pytest.raises(_Skip, match="enable_thinking False") as e:
        encode_conversation(tok, _turns(Q, A), enable_thinking=False)
    assert e.value.reason == "template_mismatch"


# ---- (d) bad samples are reported ---------------------------------------------------------------------


def _write(path: Path, samples: list[dict]) -> Path:
    path.write_text(json.dumps(samples))
    return path


_COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
_SHAPES = ["circle", "square", "triangle", "star"]


def _good(n: int) -> list[dict]:
    """A deterministic text task in the reasoner's format: read a description, answer a question
    with a short thinking trace (words the tiny tokenizer knows)."""
    out = []
    for i in range(n):
        color, shape = _COLORS[i % len(_COLORS)], _SHAPES[(i // len(_COLORS)) % len(_SHAPES)]
        out.append({"id": f"tiny_text_{i}", "conversations": [
            {"from": "human", "value": f"Description: the {shape} is {color}.\nQuestion: what color is the {shape}?"},
            {"from": "gpt", "value": f"<think>\nthe {shape} is {color}\n</think>\n\nAnswer: {color}"},
        ]})
    return out


def test_image_samples_and_bad_turn_orders_are_reported_at_load(tmp_path):
    samples = _good(6) + [
        {"id": "has_image", "image": "a.png", "conversations": _turns("<image>\nWhat is it?", "A circle.")},
        {"id": "placeholder_only", "conversations": _turns("<image>\nWhat is it?", "A circle.")},
        {"id": "two_humans", "conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"},
                                               {"from": "gpt", "value": "c"}]},
    ]
    mixture = load_mixture(_write(tmp_path / "d.json", samples), record_check=text_only_problem)
    assert len(mixture) == 6
    got = {(b.sample_id, b.reason) for b in mixture.bad.records}
    assert got == {("has_image", "image_in_text_only"), ("placeholder_only", "image_in_text_only"),
                   ("two_humans", "malformed_conversation")}
    detail = next(b.detail for b in mixture.bad.records if b.sample_id == "has_image")
    assert "--text_only" in detail and "1 image(s)" in detail


def test_overlong_samples_are_skipped_or_truncated_never_trained_fully_masked(tok, tmp_path):
    long_answer = {"id": "long_answer", "conversations": _turns("Question: color?", "red " * 200)}
    long_prompt = {"id": "long_prompt", "conversations": _turns("red " * 200, "red")}
    mixture = load_mixture(_write(tmp_path / "d.json", [long_answer, long_prompt] + _good(2)))
    skip = TextOnlyDataset(mixture, tok, True, model_max_length=64, overlong="skip")
    item = skip[0]  # both long samples are replaced by the next usable one, and reported
    assert [(s["sample_id"], s["reason"]) for s in item["skipped"]] == [("long_answer", "too_long"),
                                                                        ("long_prompt", "too_long")]
    assert "model_max_length 64" in item["skipped"][0]["detail"]
    assert item["input_ids"].tolist() == encode_conversation(tok, _good(1)[0]["conversations"]).input_ids

    cut = TextOnlyDataset(mixture, tok, True, model_max_length=64, overlong="truncate")
    item = cut[0]
    assert item["skipped"] == [] and len(item["input_ids"]) == 64
    assert (item["labels"] != I).sum() > 0
    item = cut[1]  # the prompt alone fills the budget: nothing to learn, skipped and reported
    assert [(s["sample_id"], s["reason"]) for s in item["skipped"]] == [("long_prompt", "all_labels_masked")]

    batch = TextOnlyCollator(pad_token_id=tok.pad_token_id)([cut[0], cut[2]])
    assert set(batch) == {"input_ids", "labels", "attention_mask", "meta"}  # no image inputs for a plain LM


def test_packed_rows_give_the_padded_loss(llm_dir, tok, tmp_path):
    """transformers reads packed sample boundaries from restarting position_ids (without a cache, as
    in training: the text-only recipe turns use_cache off): same loss as padding."""
    from transformers import AutoModelForCausalLM

    mixture = load_mixture(_write(tmp_path / "d.json", _good(3)))
    items = [TextOnlyDataset(mixture, tok)[i] for i in range(3)]
    model = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    model.config.use_cache = False
    with torch.no_grad():
        padded = model(**{k: v for k, v in TextOnlyCollator(tok.pad_token_id)(items).items() if k != "meta"}).loss
        packed = model(**{k: v for k, v in TextOnlyCollator(tok.pad_token_id, packed=True)(items).items()
                          if k != "meta"}).loss
    assert torch.allclose(padded, packed, atol=1e-5), (padded, packed)


# ---- fail-fast errors --------------------------------------------------------------------------------------


def test_wrong_inputs_fail_fast_naming_the_problem(llm_dir, tmp_path, capsys):
    from llava.train.train import main

    data = _write(tmp_path / "d.json", _good(2))
    base = ["--text_only", "True", "--data_path", str(data), "--output_dir", str(tmp_path / "out"),
            "--report_to", "none"]
    fake_llava = tmp_path / "llava_ckpt"
    shutil.copytree(llm_dir, fake_llava)
    cfg = json.loads((fake_llava / "config.json").read_text())
    (fake_llava / "config.json").write_text(json.dumps({**cfg, "mm_vision_tower": "siglip"}))
    assert main(base + ["--model_name_or_path", str(fake_llava)]) == 2
    assert "perception checkpoint" in capsys.readouterr().err
    no_template = tmp_path / "no_template"
    shutil.copytree(llm_dir, no_template)
    tc = json.loads((no_template / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(tc))
    for f in no_template.glob("chat_template.*"):
        f.unlink()
    assert main(base + ["--model_name_or_path", str(no_template)]) == 2
    assert "no chat template" in capsys.readouterr().err
    assert main(base + ["--model_name_or_path", str(llm_dir), "--mm_tunable_parts", "mm_mlp_adapter"]) == 2
    assert "mm_language_model" in capsys.readouterr().err


# ---- (b) a 1-process run learns and saves a plain causal LM ---------------------------------------------


@pytest.fixture(scope="module")
def single_run(llm_dir, tmp_path_factory):
    from llava.train.train import parse_args, preflight, run

    tmp = tmp_path_factory.mktemp("single")
    bad = [{"id": "with_image", "image": "x.png", "conversations": _turns("<image>\nColor?", "red")},
           {"id": "too_long", "conversations": _turns("Question: color?", "red " * 200)}]
    data = _write(tmp / "text.json", _good(16) + bad)
    argv = ["--text_only", "True", "--model_name_or_path", str(llm_dir), "--data_path", str(data),
            "--output_dir", str(tmp / "out"), "--max_steps", "30", "--per_device_train_batch_size", "4",
            "--learning_rate", "5e-3", "--warmup_steps", "2", "--lr_scheduler_type", "cosine", "--logging_steps", "1",
            "--save_strategy", "no", "--model_max_length", "96", "--report_to", "none", "--seed", "0",
            "--length_cache_dir", str(tmp / "lengths")]
    model_args, data_args, training_args = parse_args(argv)
    source = preflight(model_args, data_args, training_args)
    result = run(model_args, data_args, training_args, source)
    return tmp / "out", result


def test_single_process_run_lowers_the_loss(single_run):
    _, result = single_run
    losses = [h["loss"] for h in result["log_history"] if "loss" in h]
    assert len(losses) == 30
    # Measured: 6.98 -> 1.43 (last three <= 1.60; random init: ln(vocab 1050) = 6.96). Threshold 0.4 x first.
    assert losses[0] > 6.0 and max(losses[-3:]) < 0.4 * losses[0], losses


def test_output_is_a_plain_causal_lm_with_the_same_logits(single_run, tok):
    from transformers import AutoModelForCausalLM, Qwen3ForCausalLM

    out, result = single_run
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "qwen3" and cfg["architectures"] == ["Qwen3ForCausalLM"]
    assert not any(k.startswith("mm_") for k in cfg) and cfg["use_cache"] is True
    for name in ("model.safetensors", "generation_config.json", "tokenizer_config.json", "llava_train_args.json"):
        assert (out / name).is_file(), name
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert type(loaded) is Qwen3ForCausalLM
    memory = result["trainer"].model.eval()
    ids = torch.tensor([tok(chat_prompt(tok, _good(1)[0]["conversations"][0]["value"], True))["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, memory(ids).logits, atol=1e-5)
    # Independently of from_pretrained: the safetensors hold exactly the in-memory parameters.
    saved = load_file(str(out / "model.safetensors"))
    own = {k: v for k, v in memory.state_dict().items() if k != "lm_head.weight"}  # tied: stored once
    assert set(saved) == set(own) and all(torch.equal(saved[k], own[k]) for k in saved)


def test_output_loads_with_the_eval_loader_and_generates_like_the_trained_model(single_run, tok):
    from llava.eval.text_generation import SamplingSettings, generate_batches, load_causal_lm

    out, result = single_run
    model, tokenizer = load_causal_lm(str(out), dtype="fp32", device="cpu")  # what `llava-eval reason` uses
    prompt = chat_prompt(tokenizer, _good(1)[0]["conversations"][0]["value"], enable_thinking=True)
    (gen,) = next(generate_batches(model, tokenizer, {"p": prompt}, SamplingSettings(False, 12), 1))
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    memory = result["trainer"].model.eval()
    with torch.no_grad():
        reference = memory.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12,
                                    pad_token_id=tok.pad_token_id, temperature=None, top_p=None, top_k=None)
    reference = reference[0, ids.shape[1]:].tolist()
    assert gen.token_ids == reference[:len(gen.token_ids)] and len(gen.token_ids) > 0


def test_image_and_overlong_samples_are_in_the_report(single_run):
    out, result = single_run
    report = json.loads((out / "skipped_samples.json").read_text())
    got = {(s["sample_id"], s["reason"], s["stage"]) for s in report["samples"]}
    assert got == {("with_image", "image_in_text_only", "load"), ("too_long", "too_long", "train")}
    assert result["skipped"] == 2


# ---- (c) 2-process ZeRO-3 through the launch script ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, copy_tiny_assets):
    d = tmp_path_factory.mktemp("assets") / "tiny"
    copy_tiny_assets(d)
    return d


def _dry_run(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("DATA_ROOT", "DATA_CONFIG", "DATA_PATH", "MODEL", "LLM")}
    base.update({"DRY_RUN": "1", "NPROC_PER_NODE": "2", "REPORT_TO": "none"})
    base.update({k: str(v) for k, v in env.items()})
    proc = subprocess.run(["bash", str(REPO / "scripts" / "zero3" / "train_reasoner.sh"), *args], env=base, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    launch = next((line.split("launch: ", 1)[1].split() for line in proc.stdout.splitlines() if "launch: " in line), [])
    return proc, {a: b for a, b in zip(launch, launch[1:]) if a.startswith("--")}


def test_script_tiny_default_and_real_settings(tiny_dir, tmp_path):
    proc, flags = _dry_run(TINY_DIR=tiny_dir)
    assert proc.returncode == 0, proc.stderr
    assert "TINY EMBEDDED DEFAULT" in proc.stdout.splitlines()[0]
    assert flags["--text_only"] == "True" and flags["--enable_thinking"] == "True"
    assert flags["--model_name_or_path"] == str(tiny_dir / "reasoner")  # the demo's reasoner on its world
    assert flags["--data_path"] == str(tiny_dir / "world" / "reasoner.json") and Path(flags["--data_path"]).is_file()
    assert Path(flags["--deepspeed"]).name == "zero3_tiny.json" and flags["--mm_tunable_parts"] == "mm_language_model"

    proc, flags = _dry_run("--max_steps", "7", DATA_CONFIG=tmp_path / "mine.yaml", THINKING="False")
    assert proc.returncode == 0, proc.stderr
    assert "TINY" not in proc.stdout
    assert flags["--model_name_or_path"] == "Qwen/Qwen3-1.7B" and flags["--learning_rate"] == "1e-5"
    assert flags["--enable_thinking"] == "False" and flags["--max_steps"] == "7"

    proc, _ = _dry_run(DATA_ROOT=tmp_path)
    assert proc.returncode == 2 and "DATA_CONFIG" in proc.stderr


@pytest.mark.slow
def test_two_process_zero3_run_through_the_script(tiny_dir, tmp_path):
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    from transformers import AutoModelForCausalLM
    from zero3_runs import losses, run_stage, tail

    out = tmp_path / "runs" / "reasoner"
    proc = run_stage("train_reasoner.sh", tmp_path, "reasoner", TINY_DIR=tiny_dir, CKPT_ROOT=tmp_path / "runs",
                     MAX_STEPS=4, SAVE_STEPS=4, REPORT_TO="none", MODEL_MAX_LENGTH=256)
    assert proc.returncode == 0, tail(proc)
    assert "TINY EMBEDDED DEFAULT" in proc.stdout.splitlines()[0]
    assert len(losses(out)) == 4
    for r in (0, 1):  # really partitioned: each rank stores about half
        rep = json.loads((out / f"zero3_partition_rank{r}.json").read_text())
        assert rep["world_size"] == 2 and 0.4 * rep["total_elements"] <= rep["local_elements"] <= 0.6 * rep[
            "total_elements"]
    # Our module-by-module consolidation equals DeepSpeed's own fp32 consolidation of the checkpoint.
    ours = load_file(str(out / "checkpoint-4" / "model.safetensors"))
    reference = get_fp32_state_dict_from_zero_checkpoint(str(out / "checkpoint-4"))
    assert set(reference) - set(ours) <= {"lm_head.weight"} and set(ours) <= set(reference)
    assert all(torch.equal(v, reference[k].to(v.dtype)) for k, v in ours.items())
    final = load_file(str(out / "model.safetensors"))
    start = load_file(str(tiny_dir / "reasoner" / "model.safetensors"))
    assert all(torch.equal(final[k], ours[k]) for k in final)
    assert any(not torch.equal(final[k], start[k]) for k in final)  # trained
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert model.config.model_type == "qwen3"
    sd = model.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in final.items())


def test_lora_text_only_run_saves_merged_plain_weights(llm_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from llava.train.train import parse_args, preflight, run

    data = _write(tmp_path / "text.json", _good(8))
    argv = ["--text_only", "True", "--model_name_or_path", str(llm_dir), "--data_path", str(data),
            "--output_dir", str(tmp_path / "out"), "--max_steps", "3", "--per_device_train_batch_size", "2",
            "--learning_rate", "1e-2", "--save_strategy", "no", "--report_to", "none", "--lora_enable", "True",
            "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj,v_proj",
            "--group_by_modality_length", "False"]
    args = parse_args(argv)
    result = run(*args, preflight(*args))
    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    start = load_file(str(llm_dir / "model.safetensors"))
    assert set(saved) == set(start)  # merged: no lora_A/lora_B keys, the base model's names
    changed = {k for k in saved if not torch.equal(saved[k], start[k])}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed), changed
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out", dtype=torch.float32).eval()
    merged = result["trainer"].model.merge_and_unload().eval()
    ids = torch.tensor([[1025, 344, 256, 198, 86, 1026]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, merged(ids).logits, atol=1e-5)


def test_packing_setting_for_a_plain_causal_lm(llm_dir):
    # transformers' causal LMs read packed rows (restarting position_ids), so the text-only recipe
    # honours --packing on; the perception rule refuses a class that does not advertise it.
    from transformers import AutoModelForCausalLM

    from llava.train.model_setup import use_packing
    from llava.train.recipes import TextOnlyRecipe

    model = AutoModelForCausalLM.from_pretrained(llm_dir, attn_implementation="sdpa")
    recipe = TextOnlyRecipe()
    assert recipe.use_packing("on", model) is True
    assert recipe.use_packing("auto", model) is False  # sdpa: the packed mask costs as much as padding
    assert recipe.use_packing("off", model) is False
    with pytest.raises(ValueError, match="does not accept packed rows"):
        use_packing("on", model)
    with pytest.raises(ValueError, match="--packing 'sometimes'"):
        recipe.use_packing("sometimes", model)
