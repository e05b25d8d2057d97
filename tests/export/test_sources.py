"""What `llava-export` accepts: ZeRO-3 training output, LoRA adapters, and clear errors otherwise.

The ZeRO-3 test trains the tiny model for 2 steps with 2 CPU ranks through the shipped stage
script (helper C's runner), then exports `checkpoint-2` from its DeepSpeed shards and checks it
against the trainer's own consolidated save and against transformers' LlavaOnevision.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.export.helpers import greedy_pair, load_native, load_project, logits_pair, test_image


@pytest.fixture(scope="module")
def zero3_run(tmp_path_factory):
    from tests.train.zero3_runs import run_stage, tail

    tmp = tmp_path_factory.mktemp("zero3")
    out = tmp / "run"
    # DS_ACCELERATOR=cpu: DeepSpeed otherwise prints its accelerator warning to stdout on import.
    proc = run_stage("finetune_extract.sh", tmp, "train", OUTPUT_DIR=out, TINY_DIR=tmp / "tiny", MAX_STEPS=2,
                     SAVE_STEPS=2, REPORT_TO="none", DS_ACCELERATOR="cpu")
    assert proc.returncode == 0 and (out / "checkpoint-2" / "global_step2").is_dir(), tail(proc)
    return out, tmp / "tiny"


@pytest.mark.slow
def test_zero3_checkpoint_exports_and_matches_transformers(zero3_run, tmp_path):
    run, tiny = zero3_run
    ckpt = run / "checkpoint-2"
    cli = subprocess.run([sys.executable, "-m", "llava.export.cli", str(ckpt), "-o", str(tmp_path / "zero"),
                          "--from-zero"], capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-3000:]
    from_zero = load_file(str(tmp_path / "zero" / "llava-next" / "model.safetensors"))
    # independent reference: the trainer's own module-by-module consolidated save of the same step
    trainer_save = load_file(str(ckpt / "model.safetensors"))
    assert from_zero.keys() == trainer_save.keys()
    assert all(torch.equal(from_zero[k], trainer_save[k]) for k in trainer_save)
    # training changed the weights (the export is not of the untrained model)
    initial = load_file(str(tiny / "llava" / "model.safetensors"))  # the stage's start checkpoint
    changed = [k for k in trainer_save if k in initial and not torch.equal(initial[k], trainer_save[k])]
    assert len(changed) > len(trainer_save) // 2

    project = load_project(ckpt)
    native = load_native(tmp_path / "zero" / "hf")
    assert not native[1]["missing_keys"] and not native[1]["unexpected_keys"]
    image = [test_image(150, 90, seed=21)]
    ours, theirs, _ = logits_pair(project, native, image, project[1].config.image_aspect_ratio)
    torch.testing.assert_close(theirs[..., :ours.shape[-1]], ours, atol=2e-5, rtol=1e-4)
    a, b = greedy_pair(project, native, image, project[1].config.image_aspect_ratio)
    assert a == b


@pytest.mark.slow
def test_training_output_folder_uses_final_weights_and_card(zero3_run, tmp_path):
    from llava.export import export

    run, _ = zero3_run
    out = export(run, tmp_path / "out", formats=("llava",))["llava"]
    final = load_file(str(run / "model.safetensors"))
    exported = load_file(str(out / "model.safetensors"))
    assert all(torch.equal(final[k], exported[k]) for k in final)
    assert "pipeline_tag: image-text-to-text" in (out / "README.md").read_text()


def _export_cli(*args):
    return subprocess.run([sys.executable, "-m", "llava.export.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_truncated_consolidated_file_exports_from_the_intact_shards(zero3_run, tmp_path):
    run, _ = zero3_run
    ckpt = tmp_path / "checkpoint-2"
    shutil.copytree(run / "checkpoint-2", ckpt)
    broken = ckpt / "model.safetensors"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # as an interrupted copy leaves it

    plain = _export_cli(ckpt, "-o", tmp_path / "a")
    assert plain.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert str(broken) in last and "truncated" in last and "--from-zero" in last, plain.stderr[-2000:]

    from_zero = _export_cli(ckpt, "-o", tmp_path / "b", "--from-zero")
    assert from_zero.returncode == 0, from_zero.stderr[-3000:]
    exported = load_file(str(tmp_path / "b" / "llava-next" / "model.safetensors"))
    intact = load_file(str(run / "checkpoint-2" / "model.safetensors"))
    assert exported.keys() == intact.keys() and all(torch.equal(exported[k], intact[k]) for k in intact)


@pytest.mark.slow
@pytest.mark.parametrize("shard", ["zero_pp_rank_1_mp_rank_00_optim_states.pt",
                                   "zero_pp_rank_0_mp_rank_00_model_states.pt"])
def test_hostile_shard_among_real_ones_is_refused(zero3_run, tmp_path, shard):
    from tests.hostile import write_payload

    run, _ = zero3_run
    ckpt = tmp_path / "checkpoint-2"
    shutil.copytree(run / "checkpoint-2", ckpt)
    marker = tmp_path / "marker"
    write_payload(ckpt / "global_step2" / shard, marker, "shell")
    proc = _export_cli(ckpt, "-o", tmp_path / "out", "--from-zero")
    assert proc.returncode == 1 and not marker.exists()
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"llava-export: {ckpt / 'global_step2' / shard}: not loaded") and last.endswith(
        "rerun with --trust-checkpoint"), proc.stderr[-2000:]


def test_lora_adapter_is_merged_like_peft(tiny_checkpoint, tmp_path):
    from peft import LoraConfig, get_peft_model

    from llava.export import export

    _, model, _ = load_project(tiny_checkpoint)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0)
    peft_model = get_peft_model(model, config)
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: make the adapter do something
                p.normal_(std=0.05)
    adapter_dir = tmp_path / "adapter"
    peft_model.save_pretrained(adapter_dir)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = str(tiny_checkpoint)
    (adapter_dir / "adapter_config.json").write_text(json.dumps(cfg))

    out = export(adapter_dir, tmp_path / "merged", formats=("llava",))["llava"]
    ours = load_file(str(out / "model.safetensors"))
    reference = {k: v for k, v in peft_model.merge_and_unload().state_dict().items()}
    reference.pop("lm_head.weight", None)  # tied
    assert ours.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(ours[key], reference[key], atol=1e-6, rtol=0, msg=key)
    base = load_file(str(tiny_checkpoint / "model.safetensors"))
    assert not torch.equal(ours["model.layers.0.self_attn.q_proj.weight"],
                           base["model.layers.0.self_attn.q_proj.weight"])


@pytest.mark.parametrize("make, match", [
    (lambda d: None, "does not exist"),
    (lambda d: d.mkdir(), "no weights"),
    (lambda d: (d.mkdir(), (d / "config.json").write_text("{oops")), "not valid JSON"),
])
def test_unusable_sources_are_named(tmp_path, make, match):
    from llava.export import export

    src = tmp_path / "src"
    make(src)
    with pytest.raises((FileNotFoundError, ValueError), match=match):
        export(src, tmp_path / "out")


def test_non_empty_output_needs_overwrite(tiny_checkpoint, tmp_path):
    from llava.export import export

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export(tiny_checkpoint, tmp_path / "out", formats=("llava",))


def test_output_may_not_replace_the_source(tiny_checkpoint):
    from llava.export import export

    with pytest.raises(ValueError, match="would contain or replace the source"):
        export(tiny_checkpoint, tiny_checkpoint, formats=("llava",), overwrite=True)
    with pytest.raises(ValueError, match="would contain or replace the source"):
        export(tiny_checkpoint / "sub" / "..", tiny_checkpoint.parent, formats=("llava",), overwrite=True)
    assert (tiny_checkpoint / "model.safetensors").is_file()


def test_bf16_sharded_export_loads_in_both_libraries(tiny_checkpoint, tmp_path):
    from transformers import AutoModelForImageTextToText

    from llava.export import export
    from llava.model.builder import load_pretrained_model

    out = export(tiny_checkpoint, tmp_path / "out", dtype="bfloat16", max_shard_size="100KB")
    for folder in out.values():
        assert (folder / "model.safetensors.index.json").is_file() and len(list(folder.glob("model-*.safetensors"))) > 1
    hf, info = AutoModelForImageTextToText.from_pretrained(str(out["hf"]), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert hf.config.dtype == torch.bfloat16 and hf.model.language_model.embed_tokens.weight.dtype == torch.bfloat16
    _, model, _, _ = load_pretrained_model(str(out["llava"]), device_map="cpu", torch_dtype="bfloat16")
    source = load_file(str(tiny_checkpoint / "model.safetensors"))
    ours = model.state_dict()
    key = "model.layers.0.mlp.down_proj.weight"
    assert torch.equal(ours[key], source[key].to(torch.bfloat16))
