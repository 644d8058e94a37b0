"""The fault suite's quick variant runs in CI: every fault recovered, nothing lost or duplicated downstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_quick_fault_suite_recovers_from_every_fault(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIZEN_")}
    env["KAIZEN_MODELS_DIR"] = str(REPO / ".kaizen" / "models")
    run = subprocess.run(
        [sys.executable, "bench/faults.py", "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    failed = [f for f in report["faults"] if not f["passed"]]
    assert not failed and report["lost"] == 0 and report["duplicated"] == 0, json.dumps(failed, indent=1)
    assert run.returncode == 0
