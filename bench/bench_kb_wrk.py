"""Knowledge-base API latency at 20 concurrent connections, measured with wrk.

    .venv/bin/python -m bench.bench_kb_wrk [--seconds 8]

bench_kb.py drives the load from Python on the same two cores as the server, so its
back-to-back figures partly measure the load generator. wrk (C, one thread) costs far
less, which leaves the server its core. Each KB route and the /health baseline run for
the same time against one running ``python -m service`` on a scratch database; the
report gives p50/p99 and each route's p99 as a ratio of /health's p99 in the same run.
Needs the ``wrk`` binary (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    from service import contract
    from tests.support.pg import scratch_database, shared_admin_url
    from tests.support.process import API_TOKEN, ServiceProcess, service_environment
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_kb_wrk`")

ROOT = Path(__file__).resolve().parents[1]

CONNECTIONS = 20
P99_TARGET_MS = 10.0
ROUTES = {
    "GET /health (baseline)": contract.HEALTH_PATH,
    "list controls, one framework": "/api/v1/controls?framework=aws-fsbp&limit=20",
    "search controls": "/api/v1/controls?q=encrypt&limit=20",
    "one control with mappings": "/api/v1/controls/cis-aws-v3:1.4",
    "list frameworks": "/api/v1/frameworks",
}
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _percentile_ms(output: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no {label}% latency:\n{output}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _wrk(url: str, seconds: int) -> tuple[float, float, float]:
    out = subprocess.run(
        # Every route with the API token (the probe ignores it): what authentication costs
        # shows in the ratio to /health.
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {API_TOKEN}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"{url} answered errors:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return _percentile_ms(out, "50"), _percentile_ms(out, "99"), float(rate.group(1) if rate else 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="wrk run per route")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_kb_wrk: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    admin = shared_admin_url()
    with scratch_database(admin, prefix="co_bench") as url:
        return _measure(url, args.seconds)


def _measure(url: str, seconds: int) -> int:
    service = ServiceProcess(
        service_environment(**{contract.ENV_DATABASE_URL: url, contract.ENV_LOG_LEVEL: "WARNING"})
    )
    failed = False
    try:
        service.start().wait_until_ready(60)
        print(
            f"{CONNECTIONS} connections, wrk 1 thread, {seconds}s per route; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        baseline_p99 = 0.0
        for name, path in ROUTES.items():
            p50, p99, rate = _wrk(service.url + path, seconds)
            baseline_p99 = baseline_p99 or p99
            verdict = (
                "" if name.endswith("(baseline)") else ("PASS" if p99 < P99_TARGET_MS else "FAIL")
            )
            failed = failed or verdict == "FAIL"
            print(
                f"{name:32} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {rate:7.0f} req/s  "
                f"p99 {p99 / baseline_p99:4.2f}x /health  {verdict}"
            )
    finally:
        service.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
