"""How cost grows with the knowledge base: 1x, 10x, 100x the shipped controls and mappings.

    .venv/bin/python -m bench.bench_kb_scale [--scales 1,10,100] [--seconds 5] [--rounds 1]
                                             [--against REF]

For each scale, a synthetic knowledge base (bench/synthetic_kb.py, valid under the schema)
is served by ``python -m service`` from ``COMPLIANCE_DIR`` on a scratch database of its own:
- first start on the empty database: the knowledge-base load (startup step 6, from the
  service's own log line) and process start to /ready;
- restart with the knowledge base unchanged: step 6 and process start to /health;
- RSS when idle after the start, and its peak (VmHWM) after the load below;
- p50/p99 at 20 connections (wrk) of /health and the list, search and single-control
  routes, each route's p99 as a ratio of /health's p99 measured just before it in the same
  run (with ``--rounds N``, the median of N such pairs); the issue's goal: at 10x every KB
  route within 1.5x of /health's.
At the largest scale it also writes (POST /api/v1/assessments at 20 connections) so that the
peak RSS covers reads and writes: the task-size figures of docs/performance.md.
With ``--against REF`` each scale is measured for the service's source at git REF too, right
after this tree's, and each route's p99 ratio to /health is printed as this/REF.
When ``APP_SECRET`` is set, the service gets it, otherwise the test suite's token; every
request carries the service's as a Bearer token. The machine is shared: compare ratios
within a run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    from bench.bench_service import source_at
    from bench.synthetic_kb import write_kb
    from service import contract
    from service.kb_index import CACHED_QUERIES
    from tests.support.pg import scratch_database, shared_admin_url
    from tests.support.process import PROJECT_ROOT, ServiceProcess, service_environment
except ModuleNotFoundError as missing:  # run as a file: the repository is not on the path
    sys.exit(f"{missing}: run it from the repository root as `python -m bench.bench_kb_scale`")

ROOT = Path(__file__).resolve().parents[1]

CONNECTIONS = 20
GOAL_AT_10X = 1.5
ROUTES = {
    "list (one framework)": "/api/v1/controls?framework=aws-fsbp&limit=20",
    "search (q=encrypt)": "/api/v1/controls?q=encrypt&limit=20",
    "one control": "/api/v1/controls/cis-aws-v3:1.4",
}
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
VARIED = "search, all different"
# A search whose needle is appended: what VARIED requests with a new needle each time.
SEARCH_PATH = "/api/v1/controls?limit=20&q="
# Up to four times as many distinct needles (substrings of the titles; the shipped titles
# give about 3,400) as service.kb_index keeps answers for, drawn at random: most requests
# are a new search, so this measures the search itself.
VARIED_NEEDLES = 4 * CACHED_QUERIES
WRITE_LUA = """
wrk.method = "POST"
wrk.body = '{"name": "bench assessment", "framework_id": "aws-fsbp"}'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class Wrk:
    p50_ms: float
    p99_ms: float
    rate: float


def _percentile(out: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no {label}% latency:\n{out}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, seconds: int, token: str, script: Path | None = None) -> Wrk:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    cmd += ["-H", f"Authorization: Bearer {token}"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"{url} answered errors:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return Wrk(_percentile(out, "50"), _percentile(out, "99"), float(rate.group(1) if rate else 0))


def search_needles(kb_dir: Path) -> list[str]:
    """Up to VARIED_NEEDLES substrings of three to five letters of the controls' titles."""
    needles: set[str] = set()
    for path in sorted((kb_dir / "frameworks").glob("*.json")):
        for control in json.loads(path.read_text(encoding="utf-8"))["controls"]:
            for raw in control["title"].lower().split():
                word = "".join(ch for ch in raw if ch.isascii() and ch.isalnum())
                needles.update(word[i : i + n] for n in (3, 4, 5) for i in range(len(word) - n + 1))
            if len(needles) >= VARIED_NEEDLES:
                break
    return sorted(needles)[:VARIED_NEEDLES]


def varied_search_lua(kb_dir: Path) -> str:
    """A wrk script whose every request searches for another substring of the titles."""
    table = ",".join(f'"{n}"' for n in search_needles(kb_dir))
    return (
        f"local needles = {{{table}}}\n"
        "request = function()\n"
        "  local q = needles[math.random(#needles)]\n"
        f'  return wrk.format(nil, "{SEARCH_PATH}" .. q)\n'
        "end\n"
    )


def rss_mb(service: ServiceProcess, field: str = "VmRSS") -> float:
    assert service.proc is not None
    status = Path(f"/proc/{service.proc.pid}/status").read_text(encoding="ascii")
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) / 1024


def step_ms(service: ServiceProcess, step: str) -> float:
    for record in reversed(service.records()):
        if record.get("message") == f"step 6: {step} done":
            return float(record["duration_ms"])
    raise RuntimeError(f"no step 6 log line:\n{service.logs()[-3000:]}")


def timed_start(
    env: dict[str, str], path: str, root: Path = PROJECT_ROOT
) -> tuple[ServiceProcess, float]:
    service = ServiceProcess(env, root=root)
    started = time.monotonic()
    service.start()
    deadline = started + 300
    while time.monotonic() < deadline:
        assert service.proc is not None
        if service.proc.poll() is not None:
            raise RuntimeError(f"service exited {service.proc.returncode}:\n{service.logs()}")
        try:
            if service.get(path, timeout=1.0).status_code == 200:
                return service, time.monotonic() - started
        except Exception:  # not listening yet
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no 200 on {path} within 300 s")


def against_health(
    service: ServiceProcess, url: str, seconds: int, token: str, *, rounds: int, script: Path | None
) -> tuple[float, Wrk, Wrk]:
    """A route's p99 as a ratio of /health's measured just before it: the median of
    ``rounds`` such pairs, with the pair's own figures. On a shared machine one pair can
    fall on a burst of other work; the median of several does not."""
    pairs = []
    for _ in range(rounds):
        health = wrk(service.url + contract.HEALTH_PATH, seconds, token)
        got = wrk(url, seconds, token, script)
        pairs.append((got.p99_ms / health.p99_ms, got, health))
    pairs.sort(key=lambda pair: pair[0])
    return pairs[len(pairs) // 2]


def one_scale(  # noqa: PLR0917 - the run's settings, each named at the one call
    scale: int, admin: str, seconds: int, rounds: int, writes: bool, root: Path = PROJECT_ROOT
) -> dict[str, float]:
    """Measure one scale of the service at ``root``; print its lines; return each KB
    route's p99 ratio to /health."""
    with tempfile.TemporaryDirectory(prefix=f"co-kb-{scale}x-") as tmp:
        kb_dir = Path(tmp) / "kb"
        controls = write_kb(scale, kb_dir)
        with scratch_database(admin, prefix=f"co_bench_kb{scale}") as url:
            env = service_environment(
                **{
                    contract.ENV_DATABASE_URL: url,
                    contract.ENV_COMPLIANCE_DIR: str(kb_dir),
                    contract.ENV_SHUTDOWN_DELAY: "0",
                }
            )
            secret = os.environ.get(contract.ENV_APP_SECRET)
            if secret:
                env[contract.ENV_APP_SECRET] = secret
            # The token the service was given, the caller's or the suite's default: without
            # it every /api/ request is a 401 and wrk measures nothing.
            token = env[contract.ENV_APP_SECRET]
            first, to_ready = timed_start(env, contract.READY_PATH, root)
            load_ms = step_ms(first, "load knowledge base")
            first.stop()
            service, to_health = timed_start(env, contract.HEALTH_PATH, root)
            try:
                service.wait_until_ready(300)
                unchanged_ms = step_ms(service, "load knowledge base")
                time.sleep(1.0)
                idle = rss_mb(service)
                print(
                    f"{scale:>4}x ({controls} controls): first start -> /ready {to_ready:.2f} s "
                    f"(KB load {load_ms / 1000:.2f} s); unchanged restart -> /health "
                    f"{to_health:.2f} s (step 6 {unchanged_ms:.0f} ms); RSS idle {idle:.0f} MB"
                )
                for path in ROUTES.values():  # the first KB request builds the catalogue
                    service.get(path, timeout=300).raise_for_status()
                varied = Path(tmp) / "varied.lua"
                varied.write_text(varied_search_lua(kb_dir), encoding="ascii")
                routes: list[tuple[str, str, Path | None]] = [
                    (name, service.url + path, None) for name, path in ROUTES.items()
                ]
                routes.append((VARIED, service.url + "/", varied))
                ratios = {}
                for name, route_url, script in routes:
                    ratio, got, health = against_health(
                        service, route_url, seconds, token, rounds=rounds, script=script
                    )
                    ratios[name] = ratio
                    print(
                        f"      {name:22} p50 {got.p50_ms:6.2f} ms  p99 {got.p99_ms:6.2f} ms  "
                        f"{got.rate:6.0f} req/s | /health p99 {health.p99_ms:5.2f} ms | "
                        f"p99 {ratio:.2f}x /health"
                    )
                if writes:
                    script = Path(tmp) / "write.lua"
                    script.write_text(WRITE_LUA, encoding="ascii")
                    got = wrk(service.url + "/api/v1/assessments", seconds, token, script)
                    print(
                        f"      {'write (POST)':22} p50 {got.p50_ms:6.2f} ms  p99 "
                        f"{got.p99_ms:6.2f} ms  {got.rate:6.0f} req/s"
                    )
                print(
                    f"      RSS after the load {rss_mb(service):.0f} MB, "
                    f"peak (VmHWM) {rss_mb(service, 'VmHWM'):.0f} MB"
                )
                return ratios
            finally:
                service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scales", default="1,10,100")
    parser.add_argument("--seconds", type=int, default=5, help="wrk run per route")
    parser.add_argument(
        "--rounds", type=int, default=1, help="pairs of /health and route runs (median ratio)"
    )
    parser.add_argument("--against", metavar="REF", help="also measure the service at git REF")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_kb_scale: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    scales = [int(s) for s in args.scales.split(",")]
    admin = shared_admin_url()
    print(
        f"{CONNECTIONS} connections, wrk 1 thread, {args.seconds}s per route, median ratio of "
        f"{args.rounds} round(s); load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="co-kb-ref-") as tmp:
        roots = {"this": PROJECT_ROOT}
        if args.against:
            roots[args.against] = source_at(args.against, Path(tmp))
        for scale in scales:
            found = {}
            for label, root in roots.items():
                if args.against:
                    print(f"  {label}:")
                writes = scale == max(scales) and label == "this"
                found[label] = one_scale(scale, admin, args.seconds, args.rounds, writes, root)
                if scale == 10:
                    worst = max(found[label].values())
                    verdict = "met" if worst <= GOAL_AT_10X else "not met"
                    print(
                        f"      10x: worst KB route p99 {worst:.2f}x /health "
                        f"(goal <= {GOAL_AT_10X}x: {verdict})"
                    )
            if args.against:
                print(f"  {scale}x, p99 ratio to /health, this / {args.against}:")
                for name, ratio in found["this"].items():
                    print(f"      {name:22} {ratio / found[args.against][name]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
