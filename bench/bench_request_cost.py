"""What one request costs the service, counted in instructions: the same figure on a busy machine.

    .venv/bin/python -m bench.bench_request_cost [--scale 10] [--requests 300] [--against REF]

p99 at 20 connections (bench/bench_kb_scale.py) follows the CPU a request costs, but on
this shared machine the same code gave 1.45x and 1.70x /health's p99 on different days.
Here ``python -m service`` runs under valgrind's callgrind, which counts the instructions
the process executes whatever else the machine runs (valgrind's manual: "Callgrind ...
counts instructions"), with counting switched on only around each route's requests
(``callgrind_control -i on``/``-i off``, then ``-d``: https://valgrind.org/docs/manual/cl-manual.html).
For /health and the knowledge-base routes of bench_kb_scale (a synthetic knowledge base of
``--scale`` times the shipped one), it sends ``--requests`` requests one after another on
one keep-alive connection and prints instructions per request and the ratio to /health's
in the same process. ``--against REF`` does the same for the service's source at git REF
and prints this/REF per route, both measured in this run.

Instructions are not seconds: the kernel's work (sending the response) and cache misses
are not in them, so a route's CPU-time ratio is higher than its instruction ratio; a
change that lowers the instructions of a route lowers its CPU time, which this figure
shows without the machine's noise. Needs valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    from bench.bench_kb_scale import ROUTES, SEARCH_PATH, VARIED, search_needles
    from bench.bench_service import source_at
    from bench.synthetic_kb import write_kb
    from service import contract
    from tests.support.net import free_port
    from tests.support.pg import scratch_database, shared_admin_url
    from tests.support.process import PROJECT_ROOT, service_environment
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_request_cost`")

WARM_UP = 20  # requests per route before counting: the first KB request builds the catalogue
START_TIMEOUT = 600  # seconds: a start under callgrind is some fifty times slower


@dataclass
class Counted:
    """One ``python -m service`` under callgrind, driven by ``callgrind_control``."""

    root: Path
    env: dict[str, str]
    work: Path

    def __post_init__(self) -> None:
        self.port = free_port()
        self.dumps = 0
        # vgdb names its pipes after the process's USER and HOST variables: the service's
        # HOST is its bind address, and callgrind_control must look for the same names.
        self.control_env = {**os.environ, "HOST": "127.0.0.1"}
        self.prefix = str(self.work / "vgdb")
        env = {**self.env, contract.ENV_PORT: str(self.port), contract.ENV_HOST: "127.0.0.1"}
        self.out = self.work / f"callgrind.{self.port}"
        self.log_path = self.work / f"service.{self.port}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                "--vgdb=yes",
                f"--vgdb-prefix={self.prefix}",
                f"--callgrind-out-file={self.out}",
                sys.executable,
                "-m",
                "service",
            ],
            cwd=self.root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log_path.read_text(errors="replace")
                raise RuntimeError(f"service exited {self.proc.returncode}:\n{log[-3000:]}")
            try:
                if self.get(contract.READY_PATH) == 200:
                    return
            except OSError:
                self.conn.close()  # not listening yet
            time.sleep(0.5)
        raise RuntimeError(f"no 200 on {contract.READY_PATH} within {START_TIMEOUT} s")

    def get(self, path: str) -> int:
        token = self.env[contract.ENV_APP_SECRET]
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = self.conn.getresponse()
        response.read()
        return response.status

    def control(self, *args: str) -> None:
        subprocess.run(
            ["callgrind_control", f"--vgdb-prefix={self.prefix}", *args, str(self.proc.pid)],
            env=self.control_env,
            capture_output=True,
            check=True,
        )

    def instructions_per_request(self, paths: list[str]) -> float:
        for path in paths[:WARM_UP]:
            if (status := self.get(path)) != 200:
                raise RuntimeError(f"{path} answered {status}")
        self.control("-z")
        self.control("-i", "on")
        for path in paths:
            self.get(path)
        self.control("-i", "off")
        self.dumps += 1
        self.control("-d")
        dump = Path(f"{self.out}.{self.dumps}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the dump is written after the command returns
            if dump.exists() and (found := re.search(r"^totals:\s+(\d+)", dump.read_text(), re.M)):
                return int(found.group(1)) / len(paths)
            time.sleep(0.2)
        raise RuntimeError(f"callgrind wrote no {dump}")

    def stop(self) -> None:
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(120)
        self.log.close()


def requests_by_route(kb_dir: Path, count: int) -> dict[str, list[str]]:
    needles = search_needles(kb_dir)
    draw = random.Random(1)  # the same searches for every checkout measured
    routes = {"/health": [contract.HEALTH_PATH] * count}
    routes.update({name: [path] * count for name, path in ROUTES.items()})
    routes[VARIED] = [SEARCH_PATH + draw.choice(needles) for _ in range(count)]
    return routes


def measure(root: Path, env: dict[str, str], routes: dict[str, list[str]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="co-callgrind-") as work:
        service = Counted(root, env, Path(work))
        try:
            service.wait_until_ready()
            return {name: service.instructions_per_request(paths) for name, paths in routes.items()}
        finally:
            service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=shared_admin_url())
    parser.add_argument("--scale", type=int, default=10, help="knowledge base, times the shipped")
    parser.add_argument("--requests", type=int, default=300, help="counted per route")
    parser.add_argument("--against", metavar="REF", help="also measure the service at git REF")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench_request_cost: valgrind is not installed (apt-get install valgrind)")

    with tempfile.TemporaryDirectory(prefix=f"co-cost-{args.scale}x-") as tmp:
        kb_dir = Path(tmp) / "kb"
        controls = write_kb(args.scale, kb_dir)
        routes = requests_by_route(kb_dir, args.requests)
        roots = {"this": PROJECT_ROOT}
        if args.against:
            roots[args.against] = source_at(args.against, Path(tmp) / "ref")
        with scratch_database(args.admin_url, prefix="co_bench_cost") as url:
            env = service_environment(
                **{
                    contract.ENV_DATABASE_URL: url,
                    contract.ENV_COMPLIANCE_DIR: str(kb_dir),
                    contract.ENV_SHUTDOWN_DELAY: "0",
                }
            )
            found = {label: measure(root, env, routes) for label, root in roots.items()}
    print(
        f"instructions per request (callgrind), {args.requests} requests per route on one "
        f"connection, knowledge base {args.scale}x ({controls} controls)"
    )
    for label, counts in found.items():
        health = counts["/health"]
        print(f"  {label}:")
        for name, count in counts.items():
            print(f"    {name:22} {count / 1000:8.0f} k   {count / health:.2f}x /health")
    if args.against:
        print(f"  this / {args.against}:")
        for name, count in found["this"].items():
            print(f"    {name:22} {count / found[args.against][name]:.3f}")


if __name__ == "__main__":
    main()
