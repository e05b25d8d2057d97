"""The layer contract of `.importlinter`, read from the code's own imports (function-level ones
included): foundations <- components <- demo, and no import cycle at any depth."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports")
    assert lint, "import-linter is part of the [dev] extra: pip install -e '.[dev]'"
    proc = subprocess.run([lint, "--no-cache", str(REPO / ".importlinter")], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout
