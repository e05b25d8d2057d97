"""The embedded default of the main commands is the demo's world and tiny models, announced loudly:
`llava-datagen run` and `llava-eval` with nothing configured run on it; naming a real model without
real data is an error that says what is missing."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from llava import embedded_default


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, copy_tiny_assets):
    root = tmp_path_factory.mktemp("embedded") / "tiny"
    copy_tiny_assets(root)  # built once per session (tests/conftest.py)
    return root


def test_assets_are_the_demo_world_and_models(tiny_assets_template):
    assets = embedded_default.prepare(tiny_assets_template)  # cached: no rebuild
    world = assets.world
    assert json.loads((world / "world.json").read_text())["train_images"] == 48
    assert (world / "mmstar" / "mmstar.parquet").is_file() and (world / "focus.json").is_file()
    # The start checkpoint is the demo LLM + demo SigLIP (96 px) with a fresh projector.
    config = json.loads((assets.checkpoint / "config.json").read_text())
    assert config["mm_vision_tower"] == str(assets.vision_tower)
    assert config["vision_config"]["image_size"] == 96 and config["vocab_size"] == json.loads(
        (assets.llm / "config.json").read_text())["vocab_size"]
    # The extraction mixture is llava-datagen's output on the world plus captions and MC VQA.
    import yaml

    mix = yaml.safe_load(assets.data_extract.read_text())["datasets"]
    assert [d.get("sampling_strategy") for d in mix] == ["all", "random:25%", "random:10%"]
    generated = json.loads(Path(mix[0]["json_path"]).read_text())
    assert len(generated) == 48 and "Especially, pay attention to" in generated[0]["conversations"][0]["value"]


def test_datagen_without_datasets_uses_the_world(tiny_root, monkeypatch, caplog):
    from llava.datagen.cli import main

    monkeypatch.setenv("TINY_DIR", str(tiny_root))
    with caplog.at_level(logging.INFO, logger="llava.datagen"):
        assert main(["run", "--no-progress"]) == 0
    assert "TINY EMBEDDED DEFAULT" in caplog.records[0].getMessage()
    assert main(["merge", "--output-dir", str(tiny_root / "datagen_cli")]) == 0
    merged = json.loads((tiny_root / "datagen_cli" / "final" / "shapes.json").read_text())
    assert len(merged) == 48


def test_datagen_with_a_model_but_no_datasets_is_refused(tmp_path, capsys):
    from llava.datagen.cli import main

    assert main(["run", "--model", "Qwen/Qwen3-VL-8B-Instruct"]) == 2
    assert "--datasets is required" in capsys.readouterr().err
    assert main(["run", "--datasets", str(tmp_path / "vqa.yaml")]) == 2
    assert "--output-dir is required" in capsys.readouterr().err


def test_eval_without_benchmark_runs_every_system_on_the_world(tiny_root, monkeypatch, capsys):
    from llava.eval.cli import main

    monkeypatch.setenv("TINY_DIR", str(tiny_root))
    for command in ("extract-think", "caption-think", "end-to-end", "reason"):
        assert main([command, "--limit", "7"]) == 0, command
        out = capsys.readouterr().out
        assert "TINY EMBEDDED DEFAULT" in out.splitlines()[0], command
        assert "| **average** |" in out and str(tiny_root / "eval") in out, command


def test_eval_with_a_model_but_no_benchmark_is_refused(tmp_path, capsys):
    from llava.eval.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["extract-think", "--perception", str(tmp_path)])
    assert exit_info.value.code == 2 and "--benchmark is required with --perception" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["extract-think", "--benchmark", "mmstar", "--reasoner", "Qwen/Qwen3-4B"])
    assert "--perception is required" in capsys.readouterr().err
