"""A saturated task's CPU figure reaches the CPU scaling target at every task size offered.

ECS computes a service's CPUUtilization as the CPU units its tasks use over the units their
task definitions reserve ("Amazon ECS CloudWatch metrics", service CPU utilization:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cloudwatch-metrics.html), and
Fargate lets a task use no more than its reservation. The service is one process; this
saturates a real one (20 wrk connections on /api/v1/controls) and measures how much CPU it
asks for: the time its threads ran plus the time they waited, runnable, for a CPU
(/proc/PID/task/*/schedstat), over the wall time. That is what it would use with a vCPU of
its own, whatever else this shared machine runs. Every TaskSize the templates offer must
then report at least the target: none may reserve more CPU than one process keeps busy.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from service import contract
from templates_src import ecs
from templates_src.params import TASK_SIZES
from templates_src.profile import PROFILES
from tests.support.process import API_TOKEN, ServiceProcess, service_environment

pytestmark = pytest.mark.slow

FARGATE_UNITS_PER_VCPU = 1024
LOAD_SECONDS = 6
#: vCPUs a process must ask for to count as saturated.
SATURATED = 0.9
PATH = "/api/v1/controls?limit=20"


def cpu_demand_ns(pid: int) -> int:
    """Nanoseconds the process's threads have run or waited runnable, in total."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            on_cpu, waiting, _ = (task / "schedstat").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
        total += int(on_cpu) + int(waiting)
    return total


def wait_until_saturated(pid: int, timeout: float = 120) -> None:
    """Until the process asks for a whole vCPU over a short window: wrk's load has arrived.

    A wait on the load itself, not a fixed pause: on a busy machine wrk's connections take
    longer to open.
    """
    deadline = time.monotonic() + timeout
    while True:
        before, started = cpu_demand_ns(pid), time.monotonic_ns()
        time.sleep(0.5)
        demand = (cpu_demand_ns(pid) - before) / (time.monotonic_ns() - started)
        if demand > SATURATED:
            return
        assert time.monotonic() < deadline, f"the load never saturated the process ({demand:.2f})"


def reported_percent(demand_vcpus: float, task_cpu_units: int) -> float:
    """The task's CPUUtilization when it asks for ``demand_vcpus`` and may use its units."""
    used = min(demand_vcpus * FARGATE_UNITS_PER_VCPU, task_cpu_units)
    return 100.0 * used / task_cpu_units


def test_the_formula_is_what_made_the_target_unreachable_at_two_vcpus() -> None:
    assert reported_percent(1.0, 2048) == 50.0 < ecs.CPU_TARGET_PERCENT
    assert reported_percent(1.0, 1024) == 100.0
    assert reported_percent(0.3, 256) == 100.0


def test_a_saturated_task_reaches_the_cpu_target_at_every_offered_size(
    database_url: str,
) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is needed (scripts/dev.sh test installs it with apt)")
    env = service_environment(
        **{
            contract.ENV_DATABASE_URL: database_url,
            contract.ENV_LOG_LEVEL: "WARNING",
            contract.ENV_APP_SECRET: API_TOKEN,
        }
    )
    headers = ["-H", f"Authorization: Bearer {API_TOKEN}"]
    service = ServiceProcess(env).start()
    try:
        service.wait_until_ready(120)
        assert service.proc is not None
        service.get(PATH, timeout=60).raise_for_status()  # the catalogue is built
        # wrk runs until it is interrupted (SIGINT: it stops and prints its figures); the
        # duration is only a bound in case the test dies first.
        load = subprocess.Popen(
            ["wrk", "-t1", "-c20", f"-d{LOAD_SECONDS + 300}s", *headers, service.url + PATH],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until_saturated(service.proc.pid)
            before, started = cpu_demand_ns(service.proc.pid), time.monotonic_ns()
            time.sleep(LOAD_SECONDS)
            demand = (cpu_demand_ns(service.proc.pid) - before) / (time.monotonic_ns() - started)
        finally:
            load.send_signal(signal.SIGINT)
            out, _ = load.communicate(timeout=60)
        assert "Non-2xx" not in out, out
    finally:
        service.stop()
    figures = {name: reported_percent(demand, cpu) for name, (cpu, _) in sorted(TASK_SIZES.items())}
    print(
        f"\n[cpu] saturated process asks for {demand:.2f} vCPU; CPUUtilization by size: "
        + ", ".join(f"{name} {pct:.0f}%" for name, pct in figures.items())
    )
    assert demand > SATURATED, f"the process was not saturated ({demand:.2f} vCPU)"
    for name, percent in figures.items():
        assert percent >= ecs.CPU_TARGET_PERCENT, (name, percent)
    assert {p.task_size for p in PROFILES} <= set(TASK_SIZES)
