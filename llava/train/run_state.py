"""What an output folder says about its run: finished, which checkpoints are complete, who holds it.

- A finished run leaves `llava_run_complete.json` next to its final weights; running the same
  command again says "already complete" and changes nothing unless `--continue_training True`.
- A checkpoint is complete when the Trainer wrote its `trainer_state.json` (the last file of a
  checkpoint) for that step and the weights are there; a process killed while writing one leaves
  it incomplete, and resume takes the newest complete one instead (saying which it skipped).
- One run at a time per output folder: global rank 0 holds a lock on it while training.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from llava.utils.folder_lock import FolderBusy, FolderLock

FINISHED_MARKER = "llava_run_complete.json"
LOCK_FILE = ".llava_train.lock"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")


class OutputDirBusy(RuntimeError):
    pass


def finished_run(output_dir: str | Path) -> dict | None:
    """The finished-run record of `output_dir`, or None when no run finished there."""
    marker = Path(output_dir) / FINISHED_MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except ValueError:
        return {"global_step": "?", "finished_at": "?"}


def mark_finished(output_dir: str | Path, global_step: int, max_steps: int) -> None:
    path = Path(output_dir) / FINISHED_MARKER
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"global_step": global_step, "max_steps": max_steps,
                               "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1) + "\n")
    tmp.replace(path)


def clear_finished(output_dir: str | Path) -> None:
    (Path(output_dir) / FINISHED_MARKER).unlink(missing_ok=True)


def checkpoint_problem(folder: Path) -> str | None:
    """Why `checkpoint-N` cannot be resumed from, or None when it is complete."""
    match = _CHECKPOINT.match(folder.name)
    state_file = folder / "trainer_state.json"
    if not state_file.is_file():
        return "no trainer_state.json (the process stopped while writing the checkpoint)"
    try:
        step = json.loads(state_file.read_text()).get("global_step")
    except ValueError:
        return "trainer_state.json is cut short"
    if match and step != int(match.group(1)):
        return f"trainer_state.json is for step {step}"
    if not any((folder / name).is_file() for name in _WEIGHTS):
        return "no model weights"
    latest = folder / "latest"  # DeepSpeed's tag file, written after its shards
    if any(folder.glob("global_step*")) and not (latest.is_file() and (folder / latest.read_text().strip()).is_dir()):
        return "DeepSpeed's shards are incomplete (no valid `latest` tag)"
    return None


def newest_complete_checkpoint(output_dir: str | Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(newest complete checkpoint-N or None, [(newer incomplete checkpoint, why)])."""
    found = sorted(((int(m.group(1)), p) for p in Path(output_dir).iterdir()
                    if p.is_dir() and (m := _CHECKPOINT.match(p.name))), reverse=True) \
        if Path(output_dir).is_dir() else []
    skipped = []
    for _, folder in found:
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append((folder, problem))
    return None, skipped


def hold_output_dir(output_dir: str | Path) -> FolderLock:
    """Lock the output folder for this run (held until the process exits)."""
    try:
        return FolderLock(output_dir, LOCK_FILE).acquire()
    except FolderBusy as busy:
        raise OutputDirBusy(f"--output_dir {output_dir} is in use by another training run ({busy.holder}); wait "
                            "for it to finish or stop it, or choose another --output_dir") from None
