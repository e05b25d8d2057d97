"""`llava-export --push-to-hub`: the real huggingface_hub client against a local fake Hub server.

Checks the repo it creates (private), the branch, the commit (message, exact files and bytes, LFS
for the weights), that the token is sent as the Authorization header but never printed or written,
and that `--dry-run` makes no request at all.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export.fake_hub import FakeHub

FAKE_TOKEN = "hf_FAKEtok3nDoNotLeakXyZ0123456789abcdef"
REPO = "me/tiny-extract"


def _env(tmp_path: Path, endpoint: str, token: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "0",
                # hf_xet talks to its own storage service; the Git LFS basic transfer goes through the
                # same HTTP client the rest of huggingface_hub uses, so this server can receive it.
                "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "WANDB_MODE": "offline",
                "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    if token:
        env["HF_TOKEN"] = token
    return env


def _run_cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llava.export.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def _all_bytes_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_push_creates_private_repo_branch_and_commit(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    with FakeHub() as hub:
        result = _run_cli([str(tiny_checkpoint), "-o", str(out), "--to", "hf", "--push-to-hub", REPO, "--private",
                           "--revision", "dev", "--commit-message", "tiny export"],
                          _env(tmp_path, hub.endpoint, FAKE_TOKEN))
        state = hub.state
    assert result.returncode == 0, result.stderr[-3000:]
    assert state.repos[REPO]["visibility"] == "private"
    assert state.branches == [(REPO, "dev")]
    assert len(state.commits) == 1
    commit = state.commits[0]
    assert commit["repo"] == REPO and commit["revision"] == "dev"
    assert commit["header"]["summary"] == "tiny export"
    local = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert set(commit["files"]) == set(local)
    for path, data in local.items():
        assert commit["files"][path] == data, path
    # the weights went through Git LFS (sha256-addressed PUT), small files inline
    weights = local["model.safetensors"]
    assert hashlib.sha256(weights).hexdigest() in state.lfs_objects
    assert any(r.method == "PUT" for r in state.requests)
    # the token is used for every API call ...
    api_calls = [r for r in state.requests if r.path.startswith("/api/")]
    assert api_calls and all(r.headers.get("authorization") == f"Bearer {FAKE_TOKEN}" for r in api_calls)
    # ... and never shown or written
    assert FAKE_TOKEN not in result.stdout + result.stderr
    assert FAKE_TOKEN.encode() not in _all_bytes_under(out)
    assert not (tmp_path / "hf_home").exists() or FAKE_TOKEN.encode() not in _all_bytes_under(tmp_path / "hf_home")
    assert f"pushed {out}" in result.stdout


@pytest.mark.slow
def test_dry_run_makes_no_request_and_lists_files(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    with FakeHub() as hub:
        result = _run_cli([str(tiny_checkpoint), "-o", str(out), "--to", "hf", "--push-to-hub", REPO,
                           "--revision", "v1", "--dry-run"], _env(tmp_path, hub.endpoint, token=None))
        requests = list(hub.state.requests)
    assert result.returncode == 0, result.stderr[-3000:]
    assert requests == []
    assert f"repo:     {REPO} (public)" in result.stdout and "revision: v1" in result.stdout
    for p in out.iterdir():
        assert f"{p.stat().st_size:>14,d}  {p.name}" in result.stdout


@pytest.mark.slow
def test_rejected_upload_is_reported_without_the_token(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    with FakeHub(deny=True) as hub:
        result = _run_cli([str(tiny_checkpoint), "-o", str(out), "--to", "llava", "--push-to-hub", REPO],
                          _env(tmp_path, hub.endpoint, FAKE_TOKEN))
    assert result.returncode == 1
    assert f"upload of {out} to {REPO} failed" in result.stderr and "403" in result.stderr
    assert "The export is complete" in result.stderr and (out / "model.safetensors").is_file()
    assert FAKE_TOKEN not in result.stdout + result.stderr


def test_push_without_token_fails_before_exporting(tmp_path, tiny_checkpoint):
    with FakeHub() as hub:
        result = _run_cli([str(tiny_checkpoint), "-o", str(tmp_path / "out"), "--push-to-hub", REPO],
                          _env(tmp_path, hub.endpoint, token=None))
        assert hub.state.requests == []
    assert result.returncode == 2
    assert "hf auth login" in result.stderr and "HF_TOKEN" in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_repo_id_is_named(tmp_path, tiny_checkpoint):
    result = _run_cli([str(tiny_checkpoint), "-o", str(tmp_path / "out"), "--push-to-hub", "no-namespace",
                       "--dry-run"], _env(tmp_path, "http://127.0.0.1:9", FAKE_TOKEN))
    assert result.returncode == 2 and "'user-or-org/model-name'" in result.stderr


def test_push_after_training_dry_run(tmp_path, tiny_checkpoint):
    from llava.export import push_to_hub_after_training

    plan = push_to_hub_after_training(tiny_checkpoint, REPO, private=True, export_dir=tmp_path / "export",
                                      dry_run=True)
    assert plan.repo_id == REPO and plan.private
    names = [name for name, _ in plan.files]
    assert "model.safetensors" in names and "processor_config.json" in names and "README.md" in names
