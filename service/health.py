"""Liveness (/health) and readiness (/ready) probes.

Dependency checks are shared by both probes, cached for HEALTH_CACHE_TTL and run by one
task at a time with their own timeouts: a flood of probes costs at most one database
query per TTL, never the pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service import contract
from service.db import describe_error
from service.license import HEALTH_COMPONENT as LICENCE_COMPONENT
from service.state import AppState

log = logging.getLogger(__name__)

# One dependency check may take this long; well under the prober's PROBE_TIMEOUT so the
# probe itself always answers in time.
CHECK_TIMEOUT = min(1.0, contract.PROBE_TIMEOUT / 2)
HEALTH_MEDIA_TYPE = "application/health+json"
NO_STORE = {"Cache-Control": "no-store"}
MIGRATION_TABLE = "_yoyo_migration"

PASS, WARN, FAIL = "pass", "warn", "fail"
# Shown on /health but never a readiness problem: startup step 7 already exits 77 on a
# refusal, so a running process holds a licence, and /ready must not add conditions.
NOT_FOR_READINESS = frozenset({LICENCE_COMPONENT})


@dataclass(frozen=True)
class ComponentCheck:
    status: str
    component_type: str
    time: str
    output: str | None = None
    observed_ms: float | None = None
    # The full reason (may name a host or user): for the log, never for a probe's body.
    detail: str | None = field(default=None, compare=False)

    def as_json(self) -> dict[str, str | float]:
        entry: dict[str, str | float] = {
            "componentType": self.component_type,
            "status": self.status,
            "time": self.time,
        }
        if self.observed_ms is not None:
            entry["observedValue"] = self.observed_ms
            entry["observedUnit"] = "ms"
        if self.output is not None:
            entry["output"] = self.output
        return entry


@dataclass(frozen=True)
class Snapshot:
    """The result of one round of dependency checks."""

    checks: dict[str, ComponentCheck]
    migrations_problem: str | None
    taken_at: float
    # Whether every expected migration is recorded, as this round saw it; None when the
    # round could not tell (database down, or no expected list to compare with).
    migrations_at_head: bool | None = None
    health_body: bytes = field(default=b"", repr=False)


def _failure(component_type: str, exc: BaseException) -> ComponentCheck:
    """A failed check whose body names only the kind of error: exception texts carry
    hosts, ports, user names and URLs, which a probe's unauthenticated body must not."""
    return ComponentCheck(
        FAIL,
        component_type,
        _now(),
        f"unavailable ({type(exc).__name__})",
        None,
        describe_error(exc),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _check_database(state: AppState) -> tuple[ComponentCheck, str | None]:
    """Reachability, and whether every migration this release expects is recorded."""
    started = time.perf_counter()
    migrations_problem: str | None = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with state.db.probe_connection() as conn:
                if state.expected_migrations:
                    present = await conn.fetchval(
                        "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = $1",
                        MIGRATION_TABLE,
                    )
                    applied = 0
                    if present:
                        applied = await conn.fetchval(
                            f"SELECT count(DISTINCT migration_id) FROM {MIGRATION_TABLE} "  # noqa: S608 - constant
                            "WHERE migration_id = ANY($1::text[])",
                            list(state.expected_migrations),
                        )
                    missing = len(state.expected_migrations) - applied
                    if missing:
                        migrations_problem = f"{missing} migration(s) not applied"
                else:
                    await conn.fetchval("SELECT 1")
    except TimeoutError:
        return ComponentCheck(
            FAIL, "datastore", _now(), f"no answer within {CHECK_TIMEOUT:g}s"
        ), None
    except Exception as exc:  # any failure is the component's status
        return _failure("datastore", exc), None
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return ComponentCheck(PASS, "datastore", _now(), observed_ms=elapsed), migrations_problem


async def _check_ib(state: AppState) -> ComponentCheck:
    if state.ib is None:
        return ComponentCheck(WARN, "component", _now(), "not initialised")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            result = await state.ib.health()
    except TimeoutError:
        return ComponentCheck(FAIL, "component", _now(), f"no answer within {CHECK_TIMEOUT:g}s")
    except Exception as exc:
        return _failure("component", exc)
    if result.status == FAIL:
        return ComponentCheck(FAIL, "component", _now(), result.output or "unhealthy")
    return ComponentCheck(result.status, "component", _now(), result.output or None)


async def _check_redis(state: AppState) -> ComponentCheck:
    if state.redis is None:
        return ComponentCheck(PASS, "datastore", _now(), "disabled")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await state.redis.ping()
    except TimeoutError:
        return ComponentCheck(FAIL, "datastore", _now(), f"no answer within {CHECK_TIMEOUT:g}s")
    except Exception as exc:
        return _failure("datastore", exc)
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return ComponentCheck(PASS, "datastore", _now(), observed_ms=elapsed)


def _check_licence(state: AppState) -> ComponentCheck:
    """The Marketplace licence as step 7 found it; no call to AWS (RegisterUsage is once)."""
    licence = state.licence  # service.license.LicenceStatus: status and output, no token
    if licence is None:
        return ComponentCheck(WARN, "system", _now(), "not checked yet")
    return ComponentCheck(licence.status, "system", _now(), licence.output)


class DependencyChecks:
    """Cached, single-flight dependency checks for both probes."""

    def __init__(self, state: AppState, ttl: float = contract.HEALTH_CACHE_TTL) -> None:
        self.state = state
        self.ttl = ttl
        self._snapshot: Snapshot | None = None
        self._running: asyncio.Task[Snapshot] | None = None
        self.rounds = 0  # how many times the checks really ran
        self.last_readiness_problems: list[str] | None = None  # None: never asked yet

    async def _run(self) -> Snapshot:
        self.rounds += 1
        (database, migrations_problem), ib, redis = await asyncio.gather(
            _check_database(self.state), _check_ib(self.state), _check_redis(self.state)
        )
        checks = {
            "database": database,
            "ib_platform": ib,
            "redis": redis,
            LICENCE_COMPONENT: _check_licence(self.state),
        }
        # Live, not only what start-up saw: a migration Job (AUTO_MIGRATE off) may finish
        # after this process started, and an operator may roll back.
        at_head = (
            migrations_problem is None
            if database.status == PASS and self.state.expected_migrations
            else None
        )
        status = PASS if all(c.status == PASS for c in checks.values()) else WARN
        body = json.dumps(
            {
                "status": status,
                "version": contract.VERSION.split(".")[0],
                "releaseId": contract.VERSION,
                "serviceId": contract.APP_NAME,
                "time": _now(),
                "checks": {name: [check.as_json()] for name, check in checks.items()},
            }
        ).encode()
        snapshot = Snapshot(checks, migrations_problem, time.monotonic(), at_head, body)
        self._snapshot = snapshot
        return snapshot

    async def snapshot(self) -> Snapshot:
        current = self._snapshot
        if current is not None and time.monotonic() - current.taken_at < self.ttl:
            return current
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._run())
        # shield: a caller that disconnects must not cancel the check others wait for.
        return await asyncio.shield(self._running)


def _checks(request: Request) -> DependencyChecks:
    checks: DependencyChecks | None = getattr(request.app.state, "dependency_checks", None)
    if checks is None:
        checks = DependencyChecks(request.app.state.co)
        request.app.state.dependency_checks = checks
    return checks


async def health(request: Request) -> Response:
    """Liveness: 200 whenever the process can serve; components show warn or fail."""
    snapshot = await _checks(request).snapshot()
    return Response(snapshot.health_body, 200, headers=NO_STORE, media_type=HEALTH_MEDIA_TYPE)


def readiness_problems(state: AppState, snapshot: Snapshot | None) -> list[str]:
    """Why this instance must not receive traffic; empty when it may."""
    problems: list[str] = []
    if state.shutting_down:
        problems.append("shutting down")
        return problems
    at_head = state.migrations_at_head
    if snapshot is not None and snapshot.migrations_at_head is not None:
        at_head = snapshot.migrations_at_head
    if not at_head:
        detail = snapshot.migrations_problem if snapshot is not None else None
        problems.append(f"migrations: {detail or 'not at head'}")
    if state.ib is None:
        problems.append("ib_platform: not initialised")
    if state.kb is None:
        problems.append("knowledge_base: not loaded")
    if snapshot is not None:
        for name, check in snapshot.checks.items():
            if check.status == FAIL and name not in NOT_FOR_READINESS:
                problems.append(f"{name}: {check.output or 'failed'}")
    return problems


async def ready(request: Request) -> Response:
    """Readiness: 200 only when every dependency is up and the service is not stopping."""
    state: AppState = request.app.state.co
    # Shutting down is answered at once, without waiting for a dependency check.
    snapshot = None if state.shutting_down else await _checks(request).snapshot()
    problems = readiness_problems(state, snapshot)
    checks = _checks(request)
    if problems != checks.last_readiness_problems:
        # Probes are logged at DEBUG; a change of readiness is what an operator looks for.
        if problems:
            details = {
                name: check.detail
                for name, check in (snapshot.checks.items() if snapshot else ())
                if check.detail
            }
            log.warning(
                "not ready: %s",
                "; ".join(problems),
                extra={"problems": problems, "details": details},
            )
        else:
            log.info("ready")
        checks.last_readiness_problems = problems
    if problems:
        body = {"status": "not ready", "problems": problems}
        return Response(json.dumps(body), 503, headers=NO_STORE, media_type="application/json")
    return Response(b'{"status":"ready"}', 200, headers=NO_STORE, media_type="application/json")


def routes() -> list[Route]:
    return [
        Route(contract.HEALTH_PATH, health, methods=["GET"], name="health"),
        Route(contract.READY_PATH, ready, methods=["GET"], name="ready"),
    ]
