"""Run every benchmark in this folder, one after the other, and print their figures.

.venv/bin/python bench/run_all.py            # all of them
.venv/bin/python bench/run_all.py poll       # those whose file name contains "poll"
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(word in s.name for word in argv)]
    failed = 0
    for script in scripts:
        print(f"=== {script.name}", flush=True)
        failed += subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
