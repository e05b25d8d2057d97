"""Upload an exported folder to the Hugging Face Hub.

The token is never handled here: `huggingface_hub` resolves it from `HF_TOKEN` or the stored
`hf auth login` token, and we only ever ask *whether* one exists. Nothing here prints or writes it.
"""
from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Files an export folder may hold that must never reach the Hub.
DEFAULT_IGNORE_PATTERNS = [".cache/**", "**/.cache/**", "*.lock", "**/.git/**", ".git/**", "__pycache__/**"]


@dataclass(frozen=True)
class UploadPlan:
    repo_id: str
    revision: str | None
    private: bool
    commit_message: str
    files: list[tuple[str, int]]  # (path in repo, size in bytes), sorted

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def describe(self) -> str:
        lines = [
            f"repo:     {self.repo_id} ({'private' if self.private else 'public'})",
            f"revision: {self.revision or 'main'}",
            f"commit:   {self.commit_message}",
            f"files:    {len(self.files)} ({_human(self.total_bytes)})",
        ]
        lines += [f"  {size:>14,d}  {path}" for path, size in self.files]
        return "\n".join(lines)


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"


def _ignored(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


def plan_upload(folder: str | Path, repo_id: str, *, revision: str | None = None, private: bool = False,
                commit_message: str | None = None, ignore_patterns: list[str] | None = None) -> UploadPlan:
    """List what `push_folder` would upload, without touching the network."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Nothing to upload: {folder} is not a folder. Export the model first.")
    check_repo_id(repo_id)
    patterns = DEFAULT_IGNORE_PATTERNS + list(ignore_patterns or [])
    files = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file() and not _ignored(p.relative_to(folder).as_posix(), patterns)
    )
    if not files:
        raise FileNotFoundError(f"Nothing to upload: {folder} is empty.")
    return UploadPlan(repo_id=repo_id, revision=revision, private=private,
                      commit_message=commit_message or f"Upload {folder.name} with llava-export", files=files)


def check_repo_id(repo_id: str) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"--push-to-hub expects a repo id like 'user-or-org/model-name', got {repo_id!r}.")


def has_token() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None


def push_folder(folder: str | Path, repo_id: str, *, revision: str | None = None, private: bool = False,
                commit_message: str | None = None, dry_run: bool = False,
                ignore_patterns: list[str] | None = None) -> UploadPlan | object:
    """Create the repo (and branch) if needed and upload `folder` in one commit.

    Returns the `UploadPlan` on `dry_run` (no request is made), else huggingface_hub's `CommitInfo`.
    """
    plan = plan_upload(folder, repo_id, revision=revision, private=private, commit_message=commit_message,
                       ignore_patterns=ignore_patterns)
    if dry_run:
        return plan
    if not has_token():
        raise PermissionError(
            "No Hugging Face token found. Run `hf auth login` or set the HF_TOKEN environment variable "
            "(the token is read by huggingface_hub and never written by this tool)."
        )
    from huggingface_hub import HfApi

    api = HfApi()
    # private=None (not False) when --private is absent: an organisation's "private by default" still applies.
    api.create_repo(repo_id, private=True if private else None, repo_type="model", exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
    logger.info("Uploading %d files (%s) to %s@%s", len(plan.files), _human(plan.total_bytes), repo_id,
                revision or "main")
    return api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        commit_message=plan.commit_message,
        ignore_patterns=DEFAULT_IGNORE_PATTERNS + list(ignore_patterns or []),
    )


def push_to_hub_after_training(output_dir: str | Path, repo_id: str, *, private: bool = False,
                               revision: str | None = None, commit_message: str | None = None,
                               export_dir: str | Path | None = None, eval_report: str | Path | None = None,
                               layout: str = "hf", dry_run: bool = False):
    """Export a finished training run and push one layout of it; call on the main process only.

    Both layouts are written under `export_dir` (default `<output_dir>/export`: `hf/`, `llava-next/`);
    `layout` ("hf": transformers-native, or "llava") is uploaded to `repo_id`. Returns the
    `UploadPlan` on `dry_run`, else the `CommitInfo`.
    """
    from llava.export.pipeline import export

    output_dir = Path(output_dir)
    export_dir = Path(export_dir) if export_dir else output_dir / "export"
    written = export(output_dir, export_dir, formats=("hf", "llava"), eval_report=eval_report, repo_id=repo_id,
                     overwrite=True)
    return push_folder(written[layout], repo_id, revision=revision, private=private,
                       commit_message=commit_message or f"Upload {output_dir.name} (end of training)",
                       dry_run=dry_run)
