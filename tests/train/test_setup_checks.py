"""Fast checks of the training entry point: fail-fast messages, DeepSpeed config policy, model
source detection by config (not path), optimizer groups, LoRA merge on save."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from llava.train.deepspeed_config import DeepSpeedConfigError, load_deepspeed_config
from llava.train.model_source import inspect_model_source
from llava.train.train import main


@pytest.fixture(scope="module")
def assets(tmp_path_factory, copy_tiny_assets):
    return copy_tiny_assets(tmp_path_factory.mktemp("assets") / "tiny")


def _args(assets, tmp_path, **over):
    base = {"--model_name_or_path": str(assets.checkpoint), "--data_path": str(assets.data_extract),
            "--output_dir": str(tmp_path / "out"), "--report_to": "none"}
    base.update(over)
    return [x for kv in base.items() for x in kv]


def test_shipped_deepspeed_configs_are_accepted_and_optimizer_blocks_refused(tmp_path):
    for name in ("zero3.json", "zero3_offload.json", "zero3_tiny.json"):
        cfg = load_deepspeed_config(f"scripts/zero3/{name}")
        assert cfg["zero_optimization"]["stage"] == 3 and "optimizer" not in cfg
    bad = tmp_path / "ds.json"
    bad.write_text(json.dumps({"zero_optimization": {"stage": 3}, "optimizer": {"type": "AdamW"}}))
    with pytest.raises(DeepSpeedConfigError, match="mm_vision_tower_lr"):
        load_deepspeed_config(bad)


@pytest.mark.parametrize("flag,value,needle", [
    ("--data_path", "/nonexistent/mix.yaml", "/nonexistent/mix.yaml"),
    ("--model_name_or_path", "/nonexistent/model", "/nonexistent/model"),
])
def test_missing_paths_fail_fast_naming_them(assets, tmp_path, capsys, flag, value, needle):
    assert main(_args(assets, tmp_path, **{flag: value})) == 2
    assert needle in capsys.readouterr().err


def test_missing_image_folder_and_optimizer_block_fail_fast(assets, tmp_path, capsys):
    (tmp_path / "mix.yaml").write_text("datasets:\n  - json_path: %s\n    image_folder: %s\n" % (
        assets.world / "captions.json", tmp_path / "no_images"))
    assert main(_args(assets, tmp_path, **{"--data_path": str(tmp_path / "mix.yaml")})) == 2
    assert str(tmp_path / "no_images") in capsys.readouterr().err
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 3}, "scheduler": {"type": "WarmupLR"}}))
    assert main(_args(assets, tmp_path, **{"--deepspeed": str(ds)})) == 2
    assert "scheduler" in capsys.readouterr().err


def test_model_kind_comes_from_config_not_path(assets, tmp_path):
    llm_named_llava = tmp_path / "llava-qwen3-onevision"
    ckpt_named_plain = tmp_path / "qwen3-plain-llm"
    shutil.copytree(str(assets.llm), llm_named_llava)
    shutil.copytree(str(assets.checkpoint), ckpt_named_plain)
    assert not inspect_model_source(str(llm_named_llava)).is_llava
    assert inspect_model_source(str(ckpt_named_plain)).is_llava


def _trainer(assets, tmp_path, **train_kw):
    from llava.model.builder import load_pretrained_model
    from llava.train.arguments import TrainingArguments
    from llava.train.parts import set_trainable_parts
    from llava.train.trainer import LLaVATrainer

    _, model, _, _ = load_pretrained_model(str(assets.checkpoint), None, None, device_map=None,
                                           torch_dtype="float32")
    parts = train_kw.pop("parts", ["mm_vision_tower", "mm_mlp_adapter", "mm_language_model"])
    set_trainable_parts(model, parts)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], **train_kw)
    return LLaVATrainer(model=model, args=args), model


def test_optimizer_groups_have_the_configured_learning_rates(assets, tmp_path):
    trainer, model = _trainer(assets, tmp_path, learning_rate=1e-5, mm_vision_tower_lr=2e-6,
                              mm_projector_lr=1e-3, weight_decay=0.1)
    opt = trainer.create_optimizer()
    groups = {g["name"]: g for g in opt.param_groups}
    names = {id(p): n for n, p in model.named_parameters()}
    assert {g["lr"] for g in groups.values()} == {1e-5, 2e-6, 1e-3}
    for g in groups.values():
        for p in g["params"]:
            n = names[id(p)]
            part = ("vision_tower" if n.startswith("model.vision_tower.") else
                    "projector" if n.startswith("model.mm_projector.") or n == "model.image_newline" else "llm")
            assert g["name"].split("_no_decay")[0] == part, n
            assert g["weight_decay"] == (0.0 if g["name"].endswith("_no_decay") else 0.1)
    covered = sum(len(g["params"]) for g in opt.param_groups)
    assert covered == len([p for p in model.parameters() if p.requires_grad])


def test_projector_only_stage_has_one_part(assets, tmp_path):
    trainer, model = _trainer(assets, tmp_path, learning_rate=1e-3, parts=["mm_mlp_adapter"])
    opt = trainer.create_optimizer()
    assert {g["name"] for g in opt.param_groups} <= {"projector", "projector_no_decay"}
    assert not any(p.requires_grad for n, p in model.named_parameters() if "vision_tower" in n)


def test_lora_is_merged_when_saving(assets, tmp_path):
    from safetensors.torch import load_file

    from llava.model.builder import load_pretrained_model
    from llava.train.arguments import ModelArguments
    from llava.train.consolidated_save import save_consolidated_weights
    from llava.train.model_setup import _add_lora

    _, model, _, _ = load_pretrained_model(str(assets.checkpoint), None, None, device_map=None,
                                           torch_dtype="float32")
    peft_model = _add_lora(model, ModelArguments(model_name_or_path="x", lora_r=4, lora_alpha=8))
    lora_names = [n for n, _ in peft_model.named_parameters() if "lora_B" in n]
    assert lora_names and not any("vision_tower" in n for n in lora_names)
    torch.manual_seed(0)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)  # peft starts B at zero; make the merge matter
    save_consolidated_weights(peft_model, tmp_path / "merged", is_main_process=True)
    ours = load_file(str(tmp_path / "merged" / "model.safetensors"))
    reference = peft_model.merge_and_unload().state_dict()  # peft's own merge
    assert set(ours) == set(reference) - {"lm_head.weight"}
    for k, v in ours.items():
        torch.testing.assert_close(v, reference[k], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip applies to CPU-only machines")
def test_cpu_shm_comm_op_is_not_built(tmp_path):
    """DeepSpeed itself would build the op (its table says compatible); after the skip its own
    `build_shm_op` returns None. Run in a fresh interpreter: the table is per process."""
    import subprocess
    import sys

    code = (
        "import deepspeed.ops\n"
        "from deepspeed.accelerator import get_accelerator\n"
        "from deepspeed.comm.torch import build_shm_op\n"
        "from llava.train.deepspeed_config import skip_cpu_shm_comm_build\n"
        "name = get_accelerator().create_op_builder('ShareMemCommBuilder').NAME\n"
        "print('before', deepspeed.ops.__compatible_ops__[name])\n"
        "skip_cpu_shm_comm_build()\n"
        "print('after', build_shm_op())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert "before True" in out and "after None" in out, out
