"""Template generator speed: generate only, and generate + write + cfn-lint.

    .venv/bin/python -m bench.bench_templates [--runs N]

- Generate: every template and parameter file built and serialised in memory, as a fresh
  process does it (imports excluded, measured separately). Target: < 1 s.
- Generate + lint: ``python build_templates.py --out TMP`` end to end in a fresh process
  (interpreter start, imports, build, write, cfn-lint on all six templates with the
  parents linted together with their children). Target: < 10 s on a 2-core machine.

Prints the median and the worst of N runs, plus the machine's core count and load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file: the repository is not on the path
    sys.exit("run it from the repository root as `python -m bench.bench_templates`")


def time_imports() -> float:
    code = (
        "import time; t = time.perf_counter(); import build_templates; "
        "print(time.perf_counter() - t)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(proc.stdout)


def time_generate(runs: int) -> list[float]:
    import build_templates

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        build_templates.build_artifacts(("yaml",), None)
        times.append(time.perf_counter() - started)
    return times


def time_generate_and_lint(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "build_templates.py", "--out", out],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - started)
    return times


def report(label: str, times: list[float], target: float) -> None:
    verdict = "ok" if max(times) < target else "OVER TARGET"
    print(
        f"{label:<32} median {statistics.median(times):6.3f} s   worst {max(times):6.3f} s   "
        f"target < {target:g} s   {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, runs: {args.runs}")
    print(f"{'import build_templates':<32} {time_imports():6.3f} s (once, fresh process)")
    report("generate (8 files, in memory)", time_generate(args.runs), 1.0)
    report("generate + write + cfn-lint", time_generate_and_lint(args.runs), 10.0)


if __name__ == "__main__":
    main()
