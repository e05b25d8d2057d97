"""Stage caches are keyed by what a model is (its files' content), not by the folder it sits in."""
import json
import os
import shutil

import llava.eval.model_signature as sig
from llava.eval.cli import main


def _outputs(root):
    return sorted(p for p in root.rglob("*.jsonl") if "lmms_samples" not in p.name)


def test_replacing_the_reasoners_weights_invalidates_its_outputs(tmp_path, tiny_reasoner, capsys):
    from tiny_models import build_tiny_qwen3_lm

    model = tmp_path / "reasoner"
    shutil.copytree(tiny_reasoner, model)
    log = tmp_path / "samples.jsonl"
    log.write_text("".join(json.dumps({"doc_id": i, "filtered_resps": f"A shape number {i}."}) + "\n"
                           for i in range(6)))
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"index": f"q{i}", "question": f"Colour {i}?", "answer": "A"}) + "\n"
                             for i in range(6)))
    args = ["reason", "--benchmark", "jsonl", "--data", str(bench), "--descriptions", str(log),
            "--reasoner", str(model), "--greedy", "--budget", "6", "--max-new-tokens", "8", "--device", "cpu",
            "--dtype", "fp32", "--results-dir", str(tmp_path / "res")]
    assert main(args) == 0
    first = _outputs(tmp_path / "res")
    assert len(first) == 1
    build_tiny_qwen3_lm(tmp_path / "other", seed=5)
    shutil.copy(tmp_path / "other" / "model.safetensors", model / "model.safetensors")   # same folder, new weights
    assert main(args) == 0
    second = _outputs(tmp_path / "res")
    assert len(second) == 2, "the old outputs were reused for the new weights"
    old, new = ([json.loads(line)["output"] for line in p.read_text().splitlines()] for p in
                (first[0], next(p for p in second if p != first[0])))
    assert old != new
    assert main(args) == 0                   # unchanged weights: cached, nothing new
    assert len(_outputs(tmp_path / "res")) == 2
    capsys.readouterr()


def test_replacing_the_perception_weights_invalidates_descriptions(tmp_path, tiny_perception, mc_benchmark):
    from tiny_models import build_tiny_perception_pair

    model = tmp_path / "perception"
    shutil.copytree(tiny_perception[0], model)
    args = ["perceive", "--benchmark", "jsonl", "--data", str(mc_benchmark), "--perception", str(model),
            "--mode", "caption", "--perception-max-new-tokens", "4", "--device", "cpu", "--dtype", "fp32",
            "--results-dir", str(tmp_path / "res")]
    assert main(args) == 0
    other_ln, _ = build_tiny_perception_pair(tmp_path / "other", seed=3)
    shutil.copy(other_ln / "model.safetensors", model / "model.safetensors")
    assert main(args) == 0
    assert len(_outputs(tmp_path / "res")) == 2


def test_signature_follows_content_and_hashes_each_file_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAVA_HASH_CACHE", str(tmp_path / "hashes.json"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    weights = folder / "model.safetensors"
    weights.write_bytes(b"a" * 64)
    (folder / "trainer_state.json").write_text('{"step": 1}')    # training state: not part of the model
    reads = []
    real = sig._content_hash
    monkeypatch.setattr(sig, "_content_hash", lambda p: reads.append(p.name) or real(p))
    first = sig.model_signature(str(folder))
    assert sorted(reads) == ["config.json", "model.safetensors"]
    assert sig.model_signature(str(folder)) == first and len(reads) == 2      # cached by file identity
    (folder / "trainer_state.json").write_text('{"step": 2}')
    assert sig.model_signature(str(folder)) == first
    stat = weights.stat()
    weights.write_bytes(b"b" * 64)                                 # same size ...
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))     # ... and the old mtime
    assert sig.model_signature(str(folder)) != first
    assert sig.model_signature("Owner/not-cached-anywhere") == "hub:Owner/not-cached-anywhere@unpinned"
