"""The example script runs and says what the README says it does."""

import subprocess
import sys
from pathlib import Path


def test_quickstart_runs(tmp_path):
    script = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "notes.img")], capture_output=True,
                         text=True, check=True).stdout
    assert "5 vectors" in out
    assert "reopened: nearest is rust.txt" in out
    assert "refused: vectors: vector contains NaN or infinity" in out
