"""Broken weight files are named, wherever the project reads them (a truncated safetensors file
otherwise fails with safetensors' own "incomplete metadata", without the file's name)."""
from __future__ import annotations

import json
import shutil

import pytest

from llava.model.weights import CorruptWeightsError, check_weight_files, load_state_dict, read_torch_weights
from tests.hostile import write_payload


@pytest.fixture()
def broken(tiny_checkpoint, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size - 1000])  # an interrupted copy
    return folder, path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from llava.tiny.models import build_tiny_llava_checkpoint

    return build_tiny_llava_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt", seed=0)


def _named(error, path):
    message = str(error)
    return "\n" not in message and str(path) in message and "truncated or corrupt" in message


def test_readers_name_the_truncated_file(broken):
    folder, path = broken
    for read in (check_weight_files, load_state_dict):
        with pytest.raises(CorruptWeightsError) as err:
            read(folder)
        assert _named(err.value, path)


def test_model_loading_names_the_truncated_file(broken):
    from llava.model.builder import load_pretrained_model

    folder, path = broken
    with pytest.raises(CorruptWeightsError) as err:
        load_pretrained_model(str(folder), device_map="cpu", torch_dtype="float32")
    assert _named(err.value, path)


def test_a_damaged_shard_index_is_named(tiny_checkpoint, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "x.safe"}})[:20])
    with pytest.raises(CorruptWeightsError, match="model.safetensors.index.json is not a weight index"):
        load_state_dict(folder)


def test_pickled_weights_holding_code_are_not_run(tmp_path):
    marker = tmp_path / "marker"
    path = write_payload(tmp_path / "pytorch_model.bin", marker, "shell")
    with pytest.raises(CorruptWeightsError, match="pytorch_model.bin is not a plain tensor file"):
        read_torch_weights(path)
    assert not marker.exists()


def test_training_preflight_names_the_truncated_file(broken, tmp_path, capsys):
    from llava.train.train import main

    folder, path = broken
    (tmp_path / "data.json").write_text("[]")
    code = main(["--model_name_or_path", str(folder), "--data_path", str(tmp_path / "data.json"),
                 "--output_dir", str(tmp_path / "out"), "--report_to", "none"])
    assert code == 2
    assert _named(capsys.readouterr().err.strip().removeprefix("llava-train: error: "), path)
