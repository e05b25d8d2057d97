"""Data mixtures: YAML parsing, env expansion, seeded sampling, load-time checks."""
import json

import numpy as np
import pytest

from llava.data.mixture import MixtureError, SamplingStrategy, expand_env, load_mixture
from tiny_data import write_bad_dataset, write_tiny_dataset


def _write_json(path, n):
    recs = [{"id": f"s{i}", "conversations": [{"from": "human", "value": f"q{i}"},
                                              {"from": "gpt", "value": f"a{i}"}]} for i in range(n)]
    path.write_text(json.dumps(recs))
    return recs


@pytest.mark.parametrize("text,n,expected", [
    ("all", 10, list(range(10))),
    ("first:3", 10, [0, 1, 2]),
    ("first:30%", 10, [0, 1, 2]),
    ("end:2", 10, [8, 9]),
    ("end:50%", 10, [5, 6, 7, 8, 9]),
    ("first:20", 10, list(range(10))),
])
def test_deterministic_strategies(text, n, expected):
    assert SamplingStrategy.parse(text).select(n, seed=0).tolist() == expected


def test_random_sampling_is_seeded_and_depends_on_seed():
    s = SamplingStrategy.parse("random:25%")
    a, b, c = s.select(1000, 7), s.select(1000, 7), s.select(1000, 8)
    assert len(a) == 250 and len(set(a.tolist())) == 250
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


@pytest.mark.parametrize("bad", ["first", "random:abc", "some:3", "first:3.5", "end:150%"])
def test_bad_strategy_is_an_error_naming_it(bad):
    with pytest.raises(MixtureError, match="sampling_strategy"):
        SamplingStrategy.parse(bad, "x.yaml")


def test_env_expansion(monkeypatch):
    monkeypatch.setenv("DATA_ROOT", "/data")
    assert expand_env("${DATA_ROOT}/a.json") == "/data/a.json"
    assert expand_env("${NOPE_UNSET:-/fallback}/a") == "/fallback/a"
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    with pytest.raises(MixtureError, match="NOPE_UNSET"):
        expand_env("${NOPE_UNSET}/a.json", "mix.yaml")


def test_yaml_mixture_random_identical_across_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_ROOT", str(tmp_path))
    _write_json(tmp_path / "a.json", 40)
    _write_json(tmp_path / "b.json", 30)
    (tmp_path / "mix.yaml").write_text(
        "datasets:\n"
        "  - json_path: ${MY_ROOT}/a.json\n    sampling_strategy: random:10\n"
        "  - json_path: b.json\n    sampling_strategy: first:50%\n")
    m1 = load_mixture(tmp_path / "mix.yaml", seed=3)
    m2 = load_mixture(tmp_path / "mix.yaml", seed=3)
    m3 = load_mixture(tmp_path / "mix.yaml", seed=4)
    assert len(m1) == 25
    ids = [m1.get(i)[0]["id"] for i in range(len(m1))]
    assert ids == [m2.get(i)[0]["id"] for i in range(len(m2))]
    assert ids != [m3.get(i)[0]["id"] for i in range(len(m3))]
    assert ids[10:] == [f"s{i}" for i in range(15)]
    summary = m1.summary()
    assert [d["num_used"] for d in summary["datasets"]] == [10, 15]
    assert [d["name"] for d in summary["datasets"]] == ["a", "b"]


def test_yaml_seed_overrides_training_seed(tmp_path):
    _write_json(tmp_path / "a.json", 50)
    (tmp_path / "mix.yaml").write_text("seed: 11\ndatasets:\n  - json_path: a.json\n    sampling_strategy: random:5\n")
    a = load_mixture(tmp_path / "mix.yaml", seed=1)
    b = load_mixture(tmp_path / "mix.yaml", seed=2)
    assert [a.get(i)[0]["id"] for i in range(5)] == [b.get(i)[0]["id"] for i in range(5)]


def test_missing_file_and_folder_named_at_once(tmp_path):
    (tmp_path / "mix.yaml").write_text(
        "datasets:\n  - json_path: nope.json\n    image_folder: no_images\n")
    with pytest.raises(MixtureError) as e:
        load_mixture(tmp_path / "mix.yaml")
    assert "nope.json" in str(e.value) and "no_images" in str(e.value)


def test_bad_yaml_and_missing_data_path(tmp_path):
    (tmp_path / "mix.yaml").write_text("datasets: [unclosed\n")
    with pytest.raises(MixtureError, match="not valid YAML"):
        load_mixture(tmp_path / "mix.yaml")
    with pytest.raises(MixtureError, match="does not exist"):
        load_mixture(tmp_path / "missing.yaml")


def test_load_time_checks_report_each_bad_id(tmp_path):
    yaml_path, expected = write_bad_dataset(tmp_path)
    m = load_mixture(yaml_path)
    found = {r.sample_id: r.reason for r in m.bad.records}
    # Cheap checks catch these at load time; corrupt image / over-long are found lazily.
    assert found == {"bad-missing-image": "missing_image", "bad-empty-conversation": "empty_conversation",
                     "line 5": "malformed_json"}
    assert expected["line 5"] == "malformed_json"
    assert all(m.get(i)[0]["id"] not in found for i in range(len(m)))


def test_wrong_image_folder_fails_fast(tmp_path):
    write_tiny_dataset(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "mix.yaml").write_text("datasets:\n  - json_path: captions.json\n    image_folder: other\n")
    with pytest.raises(MixtureError, match="wrong image_folder"):
        load_mixture(tmp_path / "mix.yaml")


def test_parquet_source(tmp_path):
    datasets = pytest.importorskip("datasets")
    recs = _write_json(tmp_path / "a.json", 12)
    datasets.Dataset.from_list(recs).to_parquet(str(tmp_path / "a.parquet"))
    (tmp_path / "mix.yaml").write_text("datasets:\n  - json_path: a.parquet\n    sampling_strategy: end:4\n")
    m = load_mixture(tmp_path / "mix.yaml")
    assert [m.get(i)[0]["id"] for i in range(len(m))] == ["s8", "s9", "s10", "s11"]
    assert np.all(m.entries[0].indices == np.arange(8, 12))
