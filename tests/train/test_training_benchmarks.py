"""The training benchmarks run (tiny / synthetic sizes) and report what they promise."""
import runpy
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _run(script, *args):
    old = sys.argv
    sys.argv = [str(SCRIPTS / script), *args]
    try:
        return runpy.run_path(str(SCRIPTS / script), run_name="bench")["main"](list(args))
    finally:
        sys.argv = old


def test_bench_padding_ours_pads_least():
    report = _run("bench_padding.py", "--num_samples", "4000", "--json")
    r = {k.split(" ")[0]: v["real_token_fraction"] for k, v in report["results"].items()}
    assert r["ours"] > 0.95 and r["ours"] > r["llava_next_grouping"] > 0 and r["plain_padding"] < 0.8


def test_bench_padding_on_the_tiny_mixture():
    report = _run("bench_padding.py", "--tiny", "--per_device_batch", "2", "--world_size", "2", "--json")
    assert report["num_samples"] == 48 + 12 + 4  # the world's extraction data, 25% captions, 10% MC VQA
    assert all(0 < v["real_token_fraction"] <= 1 for v in report["results"].values())


def test_bench_throughput_tiny(tmp_path):
    result = _run("bench_throughput.py", "--tiny", "--steps", "2", "--output", str(tmp_path / "r.json"))
    assert result["steps_per_s"] > 0 and result["tokens_per_s"] > 0 and result["image_crops"] >= 2
    assert result["sequence_length"] == 128 - 1 + result["image_tokens"]
    assert (tmp_path / "r.json").is_file()
