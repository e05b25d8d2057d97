"""Real 2-process DeepSpeed ZeRO-3 training on CPU (gloo) through the stage scripts users run.

Five runs feed all assertions (module-scoped fixtures, run once):
  extract   finetune_extract.sh on the embedded tiny default (no data configured), 4 steps, saves at 2,
            given a Hub token on the command line (it must not reach any log or saved file)
  resumed   the same command resumed from a copy of extract's checkpoint-2
  hostile   the same resume, with one DeepSpeed shard of the copy replaced by a crafted pickle
  s0        pretrain_projector.sh (tiny default), 2 steps
  bad       finetune_extract_from_scratch.sh from s0's output, zero3_offload.json, a mixture with one
            broken sample of each kind
plus two 2-step runs with 2 samples per device, packed and padded, that must agree.
"""
from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from zero3_runs import losses, run_stage, tail

pytestmark = pytest.mark.slow

LR, VISION_LR, PROJECTOR_LR = 1e-4, 2e-5, 3e-4
SECRET = "hf_" + "Zq8" * 12  # shaped like a Hub token


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("zero3")


@pytest.fixture(scope="module")
def tiny_dir(root, copy_tiny_assets):
    copy_tiny_assets(root / "tiny")
    return root / "tiny"


@pytest.fixture(scope="module")
def extract(root, tiny_dir):
    out = root / "runs" / "extract"
    proc = run_stage("finetune_extract.sh", root, "extract", "--hub_token", SECRET, TINY_DIR=tiny_dir,
                     CKPT_ROOT=root / "runs",
                     MAX_STEPS=4, SAVE_STEPS=2, SAVE_TOTAL_LIMIT=5, LR=LR, VISION_LR=VISION_LR,
                     PROJECTOR_LR=PROJECTOR_LR, REPORT_TO="wandb", WANDB_DIR=root / "wandb_extract")
    assert proc.returncode == 0, tail(proc)
    return out, proc


@pytest.fixture(scope="module")
def resumed(root, tiny_dir, extract):
    out = root / "runs" / "resumed"
    out.mkdir(parents=True)
    shutil.copytree(extract[0] / "checkpoint-2", out / "checkpoint-2")
    proc = run_stage("finetune_extract.sh", root, "resumed", TINY_DIR=tiny_dir, OUTPUT_DIR=out, MAX_STEPS=4,
                     SAVE_STEPS=2, SAVE_TOTAL_LIMIT=5, LR=LR, VISION_LR=VISION_LR, PROJECTOR_LR=PROJECTOR_LR,
                     REPORT_TO="none")
    assert proc.returncode == 0, tail(proc)
    return out, proc


@pytest.fixture(scope="module")
def hostile(root, tiny_dir, extract):
    from tests.hostile import write_payload

    out = root / "runs" / "hostile"
    shutil.copytree(extract[0] / "checkpoint-2", out / "checkpoint-2")
    shard = write_payload(out / "checkpoint-2" / "global_step2" / "zero_pp_rank_1_mp_rank_00_optim_states.pt",
                          root / "hostile_marker", "shell")
    proc = run_stage("finetune_extract.sh", root, "hostile", TINY_DIR=tiny_dir, OUTPUT_DIR=out, MAX_STEPS=4,
                     SAVE_STEPS=2, SAVE_TOTAL_LIMIT=5, REPORT_TO="none")
    return shard, proc


@pytest.fixture(scope="module")
def s0(root, tiny_dir):
    out = root / "runs" / "projector"
    proc = run_stage("pretrain_projector.sh", root, "s0", TINY_DIR=tiny_dir, CKPT_ROOT=root / "runs", MAX_STEPS=2,
                     REPORT_TO="none")
    assert proc.returncode == 0, tail(proc)
    return out, proc


@pytest.fixture(scope="module")
def bad(root, s0):
    from tiny_data import write_bad_dataset

    yaml_path, expected = write_bad_dataset(root / "bad_data", model_max_length=256, num_good=6)
    out = root / "runs" / "bad"
    proc = run_stage("finetune_extract_from_scratch.sh", root, "bad", MODEL=s0[0], DATA_CONFIG=yaml_path,
                     OUTPUT_DIR=out, MODEL_MAX_LENGTH=256, GLOBAL_BATCH=4,
                     DEEPSPEED_CONFIG=Path("scripts/zero3/zero3_offload.json").resolve(),
                     LR=LR, VISION_LR=VISION_LR, PROJECTOR_LR=PROJECTOR_LR, REPORT_TO="none")
    assert proc.returncode == 0, tail(proc)
    return out, proc, expected


# ---- the extraction run ----------------------------------------------------------------------


def test_tiny_default_is_announced_in_the_first_log_line(extract):
    first = extract[1].stdout.splitlines()[0]
    assert "TINY EMBEDDED DEFAULT" in first and "NOT a real training run" in first


def test_each_rank_holds_about_half_of_the_parameters(extract):
    out = extract[0]
    reports = [json.loads((out / f"zero3_partition_rank{r}.json").read_text()) for r in (0, 1)]
    total = reports[0]["total_elements"]
    for rep in reports:
        assert rep["world_size"] == 2 and rep["total_elements"] == total
        assert 0.4 * total <= rep["local_elements"] <= 0.6 * total, rep
    # Independent evidence: DeepSpeed's own per-rank fp32 optimizer partitions in the checkpoint.
    sizes = []
    for r in (0, 1):
        (path,) = glob.glob(str(out / "checkpoint-2" / "global_step2" / f"*zero_pp_rank_{r}_*optim_states.pt"))
        state = torch.load(path, map_location="cpu", weights_only=False)["optimizer_state_dict"]
        sizes.append(sum(t.numel() for t in state["fp32_flat_groups"]))
    trainable = sum(g["num_parameters"] for g in json.loads((out / "optimizer_groups.json").read_text())["groups"])
    assert abs(sizes[0] - sizes[1]) <= 0.05 * trainable
    assert sum(sizes) >= trainable and all(s < 0.6 * trainable for s in sizes)


@pytest.mark.parametrize("step", [2, 4])
def test_consolidated_weights_equal_deepspeed_fp32_consolidation(extract, step):
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    ckpt = extract[0] / f"checkpoint-{step}"
    ours = load_file(str(ckpt / "model.safetensors"))
    reference = get_fp32_state_dict_from_zero_checkpoint(str(ckpt))
    # Tied lm_head: we store it once (as LLaVA-NeXT checkpoints of tied models do).
    assert set(reference) - set(ours) <= {"lm_head.weight"}
    assert set(ours) <= set(reference)
    for key, value in ours.items():
        assert torch.equal(value, reference[key].to(value.dtype)), key
    if "lm_head.weight" in reference:
        assert torch.equal(reference["lm_head.weight"], ours["model.embed_tokens.weight"])
    layout = {k.split(".")[1] for k in ours if k.startswith("model.")}
    assert {"embed_tokens", "layers", "norm", "vision_tower", "mm_projector", "image_newline"} <= layout


def test_final_output_is_the_last_step_and_trained(extract, tiny_dir):
    out = extract[0]
    final = load_file(str(out / "model.safetensors"))
    last = load_file(str(out / "checkpoint-4" / "model.safetensors"))
    start = load_file(str(tiny_dir / "llava" / "model.safetensors"))
    assert all(torch.equal(final[k], last[k]) for k in final)
    changed = {k.split(".")[1] for k in final if not torch.equal(final[k], start[k])}
    assert {"layers", "vision_tower", "mm_projector"} <= changed


def test_optimizer_has_three_learning_rate_groups(extract):
    out = extract[0]
    groups = json.loads((out / "optimizer_groups.json").read_text())["groups"]
    by_name = {g["name"]: g for g in groups}
    assert {"llm", "vision_tower", "projector"} <= set(by_name)
    assert by_name["llm"]["lr"] == LR and by_name["vision_tower"]["lr"] == VISION_LR
    assert by_name["projector"]["lr"] == PROJECTOR_LR
    for g in groups:
        prefix = {"llm": "model.", "vision_tower": "model.vision_tower.", "projector": "model."}[g["name"].split("_no")[0]]
        for n in g["parameter_names"]:
            assert n.startswith(prefix)
            assert ("vision_tower." in n) == g["name"].startswith("vision_tower")
            assert (("mm_projector." in n) or n == "model.image_newline") == g["name"].startswith("projector")
    # The scheduler DeepSpeed actually stepped holds the same base learning rates, group by group.
    sched = torch.load(out / "checkpoint-2" / "scheduler.pt", weights_only=False)
    assert sorted(set(sched["base_lrs"])) == sorted({LR, VISION_LR, PROJECTOR_LR})


def test_resume_from_step_2_reproduces_the_losses(extract, resumed):
    assert "Resuming training from checkpoint with epoch 0 and global step 2" in resumed[1].stdout + resumed[1].stderr
    full, again = losses(extract[0]), losses(resumed[0])
    assert set(again) == {1, 2, 3, 4}  # steps 1-2 come from the copied checkpoint's state
    for step in (3, 4):
        assert again[step] == pytest.approx(full[step], rel=1e-6, abs=1e-7), (step, full, again)
    a = load_file(str(extract[0] / "model.safetensors"))
    b = load_file(str(resumed[0] / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_resume_is_bit_exact(extract, resumed):
    """Resuming runs inside the weights-only restriction and still reproduces the run exactly."""
    assert "without restriction" not in resumed[1].stdout + resumed[1].stderr
    full, again = losses(extract[0]), losses(resumed[0])
    assert [again[s] for s in (3, 4)] == [full[s] for s in (3, 4)]
    a = load_file(str(extract[0] / "model.safetensors"))
    b = load_file(str(resumed[0] / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_crafted_deepspeed_shard_is_refused_on_resume(root, hostile):
    shard, proc = hostile
    assert proc.returncode != 0 and not (root / "hostile_marker").exists()
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"llava-train failed on rank 1: UntrustedCheckpointError: {shard}: not loaded"), last
    assert last.endswith("rerun with --trust_checkpoint True (stage scripts: TRUST_CHECKPOINT=1)")
    assert proc.stderr.count("llava-train failed") == 1 and "ChildFailedError" not in proc.stderr


def test_secrets_stay_out_of_logs_and_saved_files(root, extract, tmp_path):
    from llava.export import export

    out, proc = extract
    assert "--hub_token ***" in proc.stdout
    card = export(out, tmp_path / "export", formats=("llava",))["llava"] / "README.md"
    places = {"log": (proc.stdout + proc.stderr).encode(), "card": card.read_bytes()}
    for folder in (out, root / "wandb_extract"):
        for path in folder.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes()
    assert {"llava_train_args.json", "training_args.bin"} <= {Path(p).name for p in places}
    # W&B records the command line itself (with the token masked by llava-train before W&B starts)
    assert any(where.endswith(".wandb") and b"--hub_token" in data for where, data in places.items())
    leaked = [where for where, data in places.items() if SECRET.encode() in data]
    assert not leaked


def test_saved_checkpoint_loads_with_the_foundation_loader_and_generates(extract):
    from PIL import Image

    from llava.conversation import get_conv_template
    from llava.mm_utils import process_images, tokenizer_image_token
    from llava.model.builder import load_pretrained_model

    tokenizer, model, image_processor, _ = load_pretrained_model(str(extract[0]), None, "anything",
                                                                 device_map=None, torch_dtype="float32")
    assert model.config.mm_tunable_parts == "mm_vision_tower,mm_mlp_adapter,mm_language_model"
    assert model.config.mm_vision_tower_lr == VISION_LR and model.config.use_cache is True
    image = Image.new("RGB", (96, 48), (200, 30, 30))
    pixels = process_images([image], image_processor, model.config)
    conv = get_conv_template("qwen_1_5")
    conv.append_message(conv.roles[0], "<image>\nDescribe.")
    conv.append_message(conv.roles[1], None)
    ids = tokenizer_image_token(conv.get_prompt(), tokenizer, return_tensors="pt")[None]
    out = model.generate(ids, images=pixels, image_sizes=[image.size], max_new_tokens=4, do_sample=False)
    assert out.shape == (1, 4)


def test_wandb_offline_run_holds_the_metrics(root, extract):
    runs = glob.glob(str(root / "wandb_extract" / "wandb" / "offline-run-*"))
    assert len(runs) == 1, runs  # rank 0 only
    records = list(_wandb_records(Path(runs[0])))
    history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    logged = set().union(*[set(h) for h in history])
    for key in ("train/loss", "train/grad_norm", "train/learning_rate", "train/lr/llm", "train/lr/vision_tower",
                "train/lr/projector", "train/tokens_per_s", "train/samples_per_s", "train/data_time_s",
                "train/step_time_s"):
        assert key in logged, (key, sorted(logged))
    steps = [h for h in history if "train/loss" in h]
    assert len(steps) == 4
    for h in steps:  # per-group rates are the rates actually used, in the configured ratios
        assert h["train/lr/llm"] == pytest.approx(h["train/learning_rate"])
        assert h["train/lr/vision_tower"] == pytest.approx(h["train/learning_rate"] * VISION_LR / LR)
    config = {i.key: json.loads(i.value_json) for r in records if r.WhichOneof("record_type") == "config"
              for i in r.config.update}
    assert config["data_counts"] == {"shapes": 48, "shapes_captions": 12, "shapes_mc_vqa": 4}  # the tiny default's mixture
    assert config["run_name"] == "extract"
    assert config.get("hub_token") in (None, "<HUB_TOKEN>")  # secrets are masked, never logged


def _wandb_records(path: Path):
    """Records of an offline W&B run (.wandb = a LevelDB-style log of protobuf records)."""
    import struct

    from wandb.proto import wandb_internal_pb2

    (path,) = path.glob("*.wandb")
    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 2:
            pending = chunk
            continue
        if kind == 3:
            pending += chunk
            continue
        if kind == 4:
            chunk, pending = pending + chunk, b""
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(chunk)
            yield rec


# ---- S0 and the stage after it ------------------------------------------------------------------


def test_projector_pretraining_output_is_a_complete_checkpoint(s0, tiny_dir):
    from llava.train.model_source import inspect_model_source

    out = s0[0]
    assert inspect_model_source(str(out)).is_llava
    weights = load_file(str(out / "model.safetensors"))
    llm = load_file(str(tiny_dir / "llm" / "model.safetensors"))
    # The LLM is frozen in S0: saved unchanged; the projector was trained.
    for k, v in llm.items():
        if k != "lm_head.weight":
            assert torch.equal(weights[k], v), k
    assert any(k.startswith("model.mm_projector.") for k in weights)
    assert any(k.startswith("model.vision_tower.") for k in weights)
    groups = json.loads((out / "optimizer_groups.json").read_text())["groups"]
    assert {g["name"].split("_no")[0] for g in groups} == {"projector"} and groups[0]["lr"] == 1e-3
    for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json"):
        assert (out / name).is_file()
    args = json.loads((out / "llava_train_args.json").read_text())  # read by llava-export's model card
    assert args["model"]["mm_tunable_parts"] == "mm_mlp_adapter" and args["data"]["conv_template"] == "plain"
    assert args["training"]["world_size"] == 2


def test_bad_samples_are_skipped_and_reported_and_s0_output_is_accepted(bad):
    out, proc, expected = bad
    report = json.loads((out / "skipped_samples.json").read_text())
    found = {r["sample_id"]: r["reason"] for r in report["samples"]}
    for sample_id, reason in expected.items():
        assert sample_id in found, (sample_id, found)
        assert reason in found[sample_id], (sample_id, found[sample_id])
    assert report["summary"]["total"] == len(found)
    assert "skipped" in proc.stdout and "bad-corrupt-image" in proc.stdout
    assert (out / "model.safetensors").is_file()
    assert all(h["loss"] > 0 for h in json.loads((out / "trainer_state.json").read_text())["log_history"]
               if "loss" in h)


def test_offload_config_keeps_the_three_learning_rates(bad):
    out = bad[0]
    groups = {g["name"]: g["lr"] for g in json.loads((out / "optimizer_groups.json").read_text())["groups"]}
    assert groups["llm"] == LR and groups["vision_tower"] == VISION_LR and groups["projector"] == PROJECTOR_LR
    ckpts = sorted(out.glob("checkpoint-*"))
    sched = torch.load(ckpts[-1] / "scheduler.pt", weights_only=False)
    assert sorted(set(sched["base_lrs"])) == sorted({LR, VISION_LR, PROJECTOR_LR})


# ---- packing under ZeRO-3 ----------------------------------------------------------------------


def test_packed_training_matches_padded_training(root, tiny_dir):
    runs = {}
    for mode in ("on", "off"):
        out = root / "runs" / f"packing_{mode}"
        proc = run_stage("finetune_extract.sh", root, f"packing_{mode}", "--packing", mode, TINY_DIR=tiny_dir,
                         OUTPUT_DIR=out, MAX_STEPS=2, PER_DEVICE_BATCH=2, GLOBAL_BATCH=4, REPORT_TO="none")
        assert proc.returncode == 0, tail(proc)
        assert f"packing: {mode} (setting {mode}" in proc.stdout
        runs[mode] = losses(out)
    assert runs["on"].keys() == {1, 2}
    for step in (1, 2):
        assert runs["on"][step] == pytest.approx(runs["off"][step], rel=1e-5)
