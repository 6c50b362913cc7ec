"""The test harness as load balancer and client: a target group and a steady load.

``TargetGroup`` polls every registered instance's readiness path, the way an ALB target
group or a Kubernetes Service does, and routes only to instances that answered 200 on
their last check. ``Load`` sends a steady stream of writes and reads through it and
records every outcome; nothing is retried, so every failure is counted.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import httpx

from service import contract
from service.assessments import ASSESSMENTS_PATH
from tests.support.process import AUTH_HEADERS
from tests.support.threads import start_threads

# The target group's health check: every 0.1 s, one failure takes a target out and one
# success puts it in. Far quicker than an ALB, so the tests may use a short SHUTDOWN_DELAY;
# what matters is that the check interval is well below the drain delay, as in production
# (PROBE_INTERVAL x 2 < DEREGISTRATION_DELAY, SHUTDOWN_DELAY > the Service's update lag).
CHECK_INTERVAL = 0.1
CHECK_TIMEOUT = 1.0
REQUEST_TIMEOUT = 10.0
# Every bounded loop in the harness gives up after this long.
MAX_RUN_SECONDS = 120.0


@dataclass(frozen=True)
class Outcome:
    """One client request: when, to whom, and how it ended (wall-clock seconds)."""

    started: float
    ended: float
    target: str
    method: str
    path: str
    status: int | None
    error: str | None = None
    created_id: int | None = None
    created_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400


@dataclass
class TargetGroup:
    """Targets (base URLs) and which of them answered their readiness check last time."""

    interval: float = CHECK_INTERVAL
    _targets: list[str] = field(default_factory=list)
    _healthy: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    checks: int = 0

    def register(self, url: str) -> None:
        with self._lock:
            if url not in self._targets:
                self._targets.append(url)

    def deregister(self, url: str) -> None:
        with self._lock:
            if url in self._targets:
                self._targets.remove(url)
            self._healthy.discard(url)

    def healthy(self) -> list[str]:
        with self._lock:
            return [t for t in self._targets if t in self._healthy]

    def _check(self, client: httpx.Client, url: str) -> bool:
        try:
            return client.get(url + contract.READY_PATH).status_code == 200
        except httpx.HTTPError:
            return False

    def _run(self) -> None:
        # A fresh connection per check, like an ALB health check.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(headers=AUTH_HEADERS, timeout=CHECK_TIMEOUT, limits=limits) as client:
            deadline = time.monotonic() + MAX_RUN_SECONDS
            while not self._stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    targets = list(self._targets)
                for url in targets:
                    up = self._check(client, url)
                    with self._lock:
                        if up and url in self._targets:
                            self._healthy.add(url)
                        else:
                            self._healthy.discard(url)
                self.checks += 1
                self._stop.wait(self.interval)

    def start(self) -> TargetGroup:
        self._thread = threading.Thread(target=self._run, name="target-group", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_until_healthy(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if url in self.healthy():
                return
            time.sleep(self.interval / 2)
        raise AssertionError(f"{url} did not become healthy in the target group in {timeout}s")


@dataclass
class Load:
    """Clients that write (POST) and read (GET by id, list) through the target group."""

    group: TargetGroup
    workers: int = 3
    pause: float = 0.01  # between one worker's requests: steady, not a flood, on 2 cores
    outcomes: list[Outcome] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _round_robin: Iterator[int] = field(default_factory=itertools.count)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _pick(self) -> str | None:
        targets = self.group.healthy()
        if not targets:
            return None
        return targets[next(self._round_robin) % len(targets)]

    def request(
        self, client: httpx.Client, method: str, path: str, body: dict[str, str] | None = None
    ) -> Outcome:
        """One request to one healthy target, recorded; an ALB answers 503 with none."""
        started = time.time()
        target = self._pick()
        if target is None:
            outcome = Outcome(started, time.time(), "-", method, path, None, "no healthy target")
            self._record(outcome)
            return outcome
        try:
            response = client.request(method, target + path, json=body)
        except httpx.HTTPError as exc:
            outcome = Outcome(
                started, time.time(), target, method, path, None, f"{type(exc).__name__}: {exc}"
            )
        else:
            created_id = created_name = None
            if method == "POST" and response.status_code == 201:
                document = response.json()
                created_id, created_name = int(document["id"]), str(document["name"])
            outcome = Outcome(
                started,
                time.time(),
                target,
                method,
                path,
                response.status_code,
                None if response.status_code < 400 else response.text[:200],
                created_id,
                created_name,
            )
        self._record(outcome)
        return outcome

    def write_and_read(self, client: httpx.Client, worker: int) -> None:
        name = f"ops-{worker}-{uuid.uuid4().hex[:12]}"
        created = self.request(
            client, "POST", ASSESSMENTS_PATH, {"name": name, "framework_id": "cis-aws-v3"}
        )
        if created.created_id is not None:
            self.request(client, "GET", f"{ASSESSMENTS_PATH}/{created.created_id}")
        self.request(client, "GET", f"{ASSESSMENTS_PATH}?limit=5")

    def _worker(self, worker: int) -> None:
        # No keep-alive: a pooled connection that the server's idle timeout closes just as
        # the client reuses it fails for reasons unrelated to an upgrade (an ALB retries
        # those itself); a new connection per request keeps every failure meaningful.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(headers=AUTH_HEADERS, timeout=REQUEST_TIMEOUT, limits=limits) as client:
            deadline = time.monotonic() + MAX_RUN_SECONDS
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.write_and_read(client, worker)
                self._stop.wait(self.pause)

    def start(self) -> Load:
        self._threads += start_threads(
            (partial(self._worker, worker) for worker in range(self.workers)),
            daemon=True,
            name="load",
        )
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def burst(self, size: int, tag: str = "burst") -> None:
        """``size`` writes at the same moment, each on a thread of its own (a traffic spike)."""
        barrier = threading.Barrier(size)

        def one(index: int) -> None:
            limits = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(
                headers=AUTH_HEADERS, timeout=REQUEST_TIMEOUT, limits=limits
            ) as client:
                barrier.wait(timeout=10)
                self.write_and_read(client, 1000 + index)

        threads = start_threads((partial(one, i) for i in range(size)), daemon=True, name=tag)
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT * 3 + 10)

    # --- Reading the record --------------------------------------------------------------

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def failures(self) -> list[Outcome]:
        return [o for o in self.snapshot() if not o.ok]

    def created(self) -> dict[int, str]:
        """Every row the clients were told was written: id -> name."""
        return {
            o.created_id: o.created_name
            for o in self.snapshot()
            if o.created_id is not None and o.created_name is not None
        }

    def wait_for_successes(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` more requests have succeeded (so a phase really ran under load)."""
        start = sum(o.ok for o in self.snapshot())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(o.ok for o in self.snapshot()) - start >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} successful requests in {timeout}s")


def describe_failures(failures: list[Outcome], limit: int = 10) -> str:
    return "\n".join(
        f"{o.method} {o.target}{o.path} -> {o.status} {o.error}" for o in failures[:limit]
    )


@contextmanager
def load_balanced(workers: int = 3) -> Iterator[tuple[TargetGroup, Load]]:
    """A running target group and a load object (started by the caller); both stop after."""
    group = TargetGroup().start()
    load = Load(group, workers=workers)
    try:
        yield group, load
    finally:
        load.stop()
        group.stop()
