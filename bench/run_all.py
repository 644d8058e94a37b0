"""``make bench``: every benchmark under bench/, each writing bench/results/<name>.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    quick = ["--quick"] if "--quick" in sys.argv else []
    failures = []
    for script in sorted(BENCH.glob("*.py")):
        if script.name in {"__init__.py", "run_all.py"} or script.name.startswith("_"):
            continue
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *quick], cwd=BENCH.parent).returncode != 0:
            failures.append(script.name)
    if failures:
        print(f"failed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
