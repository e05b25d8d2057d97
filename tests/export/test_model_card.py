"""Model card: the YAML front matter the Hub reads, training stages/mixture and eval results."""
from __future__ import annotations

import json

import pytest
import yaml


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end])


def _fake_run(tmp_path, tiny_checkpoint):
    """A two-stage training history as llava-train leaves it: args JSON, trainer_state, mixture YAML."""
    import shutil

    s3 = tmp_path / "runs" / "s3_caption"
    s3.mkdir(parents=True)
    (s3 / "llava_train_args.json").write_text(json.dumps({
        "model": {"model_name_or_path": "Qwen/Qwen3-0.6B", "vision_tower": "google/siglip-so400m-patch14-384",
                  "mm_tunable_parts": "mm_mlp_adapter"},
        "data": {"data_path": "data_configs/caption.yaml"},
        "training": {"learning_rate": 1e-3, "num_train_epochs": 1, "per_device_train_batch_size": 4,
                     "gradient_accumulation_steps": 8, "world_size": 16, "run_name": "S3 captions"}}))
    s4 = tmp_path / "runs" / "s4_extract"
    shutil.copytree(tiny_checkpoint, s4)
    (s4 / "mix.yaml").write_text(yaml.safe_dump({"datasets": [
        {"json_path": "markendo/extraction-382k", "sampling_strategy": "all"},
        {"json_path": "/data/replay.jsonl", "sampling_strategy": "first:10%"}]}))
    (s4 / "llava_train_args.json").write_text(json.dumps({
        "model_name_or_path": str(s3), "data_path": "mix.yaml", "learning_rate": 1e-5,
        "mm_tunable_parts": "mm_vision_tower,mm_mlp_adapter,mm_language_model", "run_name": "S4 extraction",
        "image_aspect_ratio": "anyres_max_4"}))
    (s4 / "trainer_state.json").write_text(json.dumps({"global_step": 42}))
    return s4


def test_card_metadata_training_and_eval(tmp_path, tiny_checkpoint):
    from llava.export import export

    run = _fake_run(tmp_path, tiny_checkpoint)
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({"benchmark": "MMStar", "average": 41.25, "reasoning_model": "Qwen/Qwen3-1.7B",
                                  "categories": {"coarse perception": 60.0, "math": 33.5}}))
    out = export(run, tmp_path / "out", formats=("hf", "llava"), eval_report=report, repo_id="me/tiny-extract",
                 base_models=["Qwen/Qwen3-0.6B"])
    card = (out["hf"] / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["pipeline_tag"] == "image-text-to-text"
    assert meta["library_name"] == "transformers"
    assert meta["license"] == "apache-2.0"
    assert meta["base_model"] == ["Qwen/Qwen3-0.6B", "google/siglip-so400m-patch14-384"]
    assert meta["datasets"] == ["markendo/extraction-382k"]  # local paths are not Hub ids
    assert "llava-onevision" in meta["tags"]
    metrics = meta["model-index"][0]["results"][0]
    assert metrics["dataset"]["name"] == "MMStar"
    assert {"name": "average", "type": "accuracy", "value": 41.25} in metrics["metrics"]
    # stages oldest first, with the mixture of the last one
    assert card.index("S3 captions") < card.index("S4 extraction")
    assert "| `/data/replay.jsonl` | first:10% |" in card
    assert "| 42 |" in card or " 42 " in card  # global steps from trainer_state.json
    assert "| coarse perception | 60.00 |" in card and "Qwen/Qwen3-1.7B" in card
    assert 'AutoModelForImageTextToText.from_pretrained("me/tiny-extract")' in card
    llava_meta = _front_matter((out["llava"] / "README.md").read_text())
    assert llava_meta["library_name"] == "llava" and llava_meta["pipeline_tag"] == "image-text-to-text"


def test_card_without_training_info_has_no_local_paths(exported):
    meta = _front_matter((exported["hf"] / "README.md").read_text())
    assert "base_model" not in meta  # the tiny tower is a local folder, not a Hub id
    assert "model-index" not in meta
    assert set(meta) >= {"license", "library_name", "pipeline_tag", "tags"}


@pytest.mark.parametrize("content, match", [("{not json", "not valid JSON"), ('{"average": 1}', "benchmark")])
def test_bad_eval_report_is_named(tmp_path, tiny_checkpoint, content, match):
    from llava.export import export

    report = tmp_path / "r.json"
    report.write_text(content)
    with pytest.raises(ValueError, match=match):
        export(tiny_checkpoint, tmp_path / "out", eval_report=report)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
