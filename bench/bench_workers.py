"""One vCPU or two: /api/v1/controls throughput and p99 of one service process and of two.

    .venv/bin/python -m bench.bench_workers [--seconds 10] [--rounds 3]

The service is one Python process (one event loop), so it can keep one vCPU busy. This
compares, in one run on one scratch database, ``/api/v1/controls`` at 20 connections
(wrk, C, one thread per target) served by
- one ``python -m service`` pinned to one CPU (a 1-vCPU task; CPU 0 and CPU 1 in turn), and
- two, pinned to CPU 0 and CPU 1, each taking 10 of the 20 connections (two 1-vCPU tasks
  behind the load balancer, or two worker processes of a 2-vCPU task: the same CPU),
rounds interleaved (1, 2, 1, 2...) so that the other load on a shared machine falls on both.
Prints each round, the medians, and the ratio of throughput (goal: two give >= 1.7x) and
of p99 (the worse of the two processes' p99, an upper bound of the combined p99).
wrk runs on the same two cores and takes its share; the figure ``wrk CPU`` says how much.
When ``APP_SECRET`` is set, the services get it and every request carries it as a Bearer
token (the API's authentication).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

try:
    from service import contract
    from tests.support.pg import scratch_database, shared_admin_url
    from tests.support.process import ServiceProcess, service_environment
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_workers`")

ROOT = Path(__file__).resolve().parents[1]

CONNECTIONS = 20
PATH = "/api/v1/controls?limit=20"
GOAL = 1.7
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    rate: float  # requests per second, all targets together
    p99_ms: float  # the worst target's p99
    wrk_cpu: float  # CPU seconds wrk used per wall second


def auth_headers() -> list[str]:
    secret = os.environ.get(contract.ENV_APP_SECRET)
    return ["-H", f"Authorization: Bearer {secret}"] if secret else []


def service_env(database_url: str) -> dict[str, str]:
    env = service_environment(
        **{contract.ENV_DATABASE_URL: database_url, contract.ENV_LOG_LEVEL: "WARNING"}
    )
    secret = os.environ.get(contract.ENV_APP_SECRET)
    if secret:
        env[contract.ENV_APP_SECRET] = secret
    return env


def pinned(service: ServiceProcess, cpu: int) -> None:
    assert service.proc is not None
    os.sched_setaffinity(service.proc.pid, {cpu})


def _p99_ms(output: str) -> float:
    match = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no 99% latency:\n{output}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def load(urls: list[str], seconds: int) -> Load:
    """wrk against every URL at once, the connections shared out; summed rate, worst p99."""
    per_target = CONNECTIONS // len(urls)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{per_target}", f"-d{seconds}s", "--latency", *auth_headers(), url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    outputs = [p.communicate(timeout=seconds + 60)[0] for p in procs]
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for out in outputs:
        if "Non-2xx or 3xx responses" in out:
            raise RuntimeError(f"errors answered:\n{out}")
    rates = [re.search(r"Requests/sec:\s+([\d.]+)", out) for out in outputs]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Load(
        rate=sum(float(m.group(1)) for m in rates if m),
        p99_ms=max(_p99_ms(out) for out in outputs),
        wrk_cpu=cpu / wall,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="wrk run per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_workers: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if (os.cpu_count() or 1) < 2:
        print("bench_workers: needs two CPUs", file=sys.stderr)
        return 2
    admin = shared_admin_url()
    with scratch_database(admin, prefix="co_bench_workers") as url:
        env = service_env(url)
        first = ServiceProcess(env).start()
        first.wait_until_ready(60)  # migrates and loads the KB once
        second = ServiceProcess(env).start()
        try:
            second.wait_until_ready(60)
            pinned(first, 0)
            pinned(second, 1)
            load([first.url + PATH], 2)  # warm-up of both
            load([second.url + PATH], 2)
            print(
                f"{PATH} at {CONNECTIONS} connections, {args.seconds}s rounds; load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs before"
            )
            one: list[Load] = []
            two: list[Load] = []
            for n in range(args.rounds):
                # The single process alternates between CPU 0 and CPU 1, so that whatever
                # else the machine runs on one CPU falls on both cases alike.
                alone = first if n % 2 == 0 else second
                one.append(load([alone.url + PATH], args.seconds))
                two.append(load([first.url + PATH, second.url + PATH], args.seconds))
                for label, got in (("1 process ", one[-1]), ("2 processes", two[-1])):
                    print(
                        f"round {n + 1} {label}: {got.rate:7.0f} req/s  p99 {got.p99_ms:6.2f} ms  "
                        f"wrk CPU {got.wrk_cpu:.2f}"
                    )
        finally:
            second.stop()
            first.stop()
    rate_1 = statistics.median(r.rate for r in one)
    rate_2 = statistics.median(r.rate for r in two)
    p99_1 = statistics.median(r.p99_ms for r in one)
    p99_2 = statistics.median(r.p99_ms for r in two)
    print(f"median, 1 process  (1 vCPU): {rate_1:7.0f} req/s  p99 {p99_1:6.2f} ms")
    print(f"median, 2 processes (2 vCPU): {rate_2:7.0f} req/s  p99 {p99_2:6.2f} ms")
    ratio = rate_2 / rate_1
    print(
        f"throughput 2/1: {ratio:.2f}x (goal >= {GOAL}x: {'met' if ratio >= GOAL else 'not met'}); "
        f"p99 2/1: {p99_2 / p99_1:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
