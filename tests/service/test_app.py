"""Probes, CO's own API, OpenAPI and request ids, through the real app on a real database."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from service import contract
from service.app import create_app
from service.credentials import DatabaseCredentials
from service.db import Database
from service.health import CHECK_TIMEOUT, DependencyChecks
from service.logs import JsonFormatter
from service.secrets import SecretError
from service.state import AppState
from tests.support.net import TEST_REDIS_URL, free_port
from tests.support.process import AUTH_HEADERS

ASSESSMENTS = "/api/v1/assessments"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung database."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


# --- /health ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_health_is_health_json_with_each_component(client: httpx.AsyncClient) -> None:
    response = await client.get(contract.HEALTH_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "pass"
    assert body["releaseId"] == contract.VERSION
    assert body["time"].endswith("Z")
    checks = body["checks"]
    assert set(checks) == {"database", "ib_platform", "redis", "marketplace_licence"}
    assert checks["database"][0]["status"] == "pass"
    assert checks["ib_platform"][0]["status"] == "pass"
    assert checks["redis"][0] == {**checks["redis"][0], "status": "pass", "output": "disabled"}
    assert checks["marketplace_licence"][0]["status"] == "pass"
    assert checks["marketplace_licence"][0]["output"].startswith("licensing off")


@pytest.mark.anyio
async def test_a_flood_of_probes_runs_the_checks_once(
    client: httpx.AsyncClient, state: AppState
) -> None:
    responses = await asyncio.gather(*(client.get(contract.HEALTH_PATH) for _ in range(200)))
    assert {r.status_code for r in responses} == {200}
    checks: DependencyChecks = client._transport.app.state.dependency_checks  # type: ignore[attr-defined]
    assert checks.rounds == 1
    ready = await asyncio.gather(*(client.get(contract.READY_PATH) for _ in range(50)))
    assert {r.status_code for r in ready} == {200}
    assert checks.rounds == 1


@pytest.mark.anyio
async def test_health_answers_200_with_fail_when_the_database_hangs(
    state: AppState, silent_server: int
) -> None:
    hung = Database.from_url(f"postgresql://postgres@127.0.0.1:{silent_server}/co", min_size=0)
    await hung.open()
    try:
        app = create_app(replace(state, db=hung))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
        ) as http:
            async with asyncio.timeout(CHECK_TIMEOUT + 2):
                health = await http.get(contract.HEALTH_PATH)
                ready = await http.get(contract.READY_PATH)
    finally:
        await hung.close()
    assert health.status_code == 200
    database = health.json()["checks"]["database"][0]
    assert database["status"] == "fail"
    assert "no answer" in database["output"]
    assert health.json()["status"] == "warn"
    assert ready.status_code == 503
    assert any(p.startswith("database:") for p in ready.json()["problems"])


@pytest.mark.anyio
async def test_ib_component_reports_fail_and_warn(state: AppState) -> None:
    class FailingIB:
        async def health(self) -> Any:
            raise ConnectionResetError("gone")

    for ib, status in ((None, "warn"), (FailingIB(), "fail")):
        app = create_app(replace(state, ib=ib))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://co.test"
        ) as http:
            body = (await http.get(contract.HEALTH_PATH)).json()
            assert body["checks"]["ib_platform"][0]["status"] == status
            assert (await http.get(contract.READY_PATH)).status_code == 503


@pytest.mark.anyio
async def test_ib_schema_gone_is_a_failed_component_with_its_reason(state: AppState) -> None:
    """The real IB's typed health result reaches the probes as it is: status and output."""
    async with state.db.connection() as conn:
        await conn.execute("DROP SCHEMA ib CASCADE")
    app = create_app(state)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://co.test"
    ) as http:
        ib = (await http.get(contract.HEALTH_PATH)).json()["checks"]["ib_platform"][0]
        ready = await http.get(contract.READY_PATH)
    assert (ib["status"], ib["output"]) == ("fail", "IB schema not found")
    assert ready.status_code == 503
    assert "ib_platform: IB schema not found" in ready.json()["problems"]


# --- /ready ---------------------------------------------------------------------------------


async def ready_problems(state: AppState) -> tuple[int, list[str]]:
    app = create_app(state)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://co.test"
    ) as http:
        response = await http.get(contract.READY_PATH)
    assert response.headers["cache-control"] == "no-store"
    if response.status_code == 200:
        return 200, []
    return response.status_code, response.json()["problems"]


@pytest.mark.anyio
async def test_ready_only_when_everything_is_up(state: AppState) -> None:
    assert await ready_problems(state) == (200, [])


@pytest.mark.anyio
async def test_ready_names_each_thing_that_is_missing(state: AppState) -> None:
    assert await ready_problems(replace(state, kb=None)) == (503, ["knowledge_base: not loaded"])
    status, problems = await ready_problems(replace(state, ib=None))
    assert status == 503
    assert "ib_platform: not initialised" in problems
    unchecked = replace(state, migrations_at_head=False, expected_migrations=())
    assert await ready_problems(unchecked) == (503, ["migrations: not at head"])
    ahead = replace(state, expected_migrations=(*state.expected_migrations, "co-9999-future"))
    assert await ready_problems(ahead) == (503, ["migrations: 1 migration(s) not applied"])
    # The probe reports what it saw; it does not rewrite what start-up recorded.
    assert ahead.migrations_at_head is True
    assert await ready_problems(replace(state, shutting_down=True)) == (503, ["shutting down"])


@pytest.mark.anyio
async def test_ready_checks_redis_when_configured(state: AppState) -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    live = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)
    try:
        status, problems = await ready_problems(replace(state, redis=dead))
        assert status == 503
        assert [p for p in problems if p.startswith("redis:")]
        assert await ready_problems(replace(state, redis=live)) == (200, [])
    finally:
        await dead.aclose()
        await live.aclose()


# --- CO's API ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_assessments_are_written_and_read_back(client: httpx.AsyncClient) -> None:
    created = [
        (await client.post(ASSESSMENTS, json={"name": f"a{i}", "framework_id": "cis-aws-v3"}))
        for i in range(3)
    ]
    assert [r.status_code for r in created] == [201, 201, 201]
    first = created[0].json()
    assert set(first) == {"id", "name", "framework_id", "created_at"}
    one = await client.get(f"{ASSESSMENTS}/{first['id']}")
    assert one.json() == first
    page = (await client.get(ASSESSMENTS + "?limit=2")).json()["items"]
    assert [a["name"] for a in page] == ["a2", "a1"]
    rest = (await client.get(f"{ASSESSMENTS}?limit=2&before={page[-1]['id']}")).json()["items"]
    assert [a["name"] for a in rest] == ["a0"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b"not json", 400, "JSON"),
        (b"[1]", 400, "object"),
        (json.dumps({"framework_id": "x"}).encode(), 422, "name"),
        (json.dumps({"name": "x", "framework_id": ""}).encode(), 422, "framework_id"),
        (json.dumps({"name": "x" * 201, "framework_id": "y"}).encode(), 422, "name"),
    ],
)
async def test_bad_assessment_bodies_are_refused_by_name(
    client: httpx.AsyncClient, body: bytes, status: int, named: str
) -> None:
    response = await client.post(
        ASSESSMENTS, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert named in response.json()["error"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "status"),
    [
        (ASSESSMENTS + "?limit=0", 400),
        (ASSESSMENTS + "?limit=many", 400),
        (ASSESSMENTS + "/123456", 404),
        (ASSESSMENTS + "/abc", 404),
    ],
)
async def test_bad_assessment_queries(client: httpx.AsyncClient, path: str, status: int) -> None:
    assert (await client.get(path)).status_code == status


# --- OpenAPI and request ids -----------------------------------------------------------------


@pytest.mark.anyio
async def test_openapi_describes_every_route(client: httpx.AsyncClient) -> None:
    document = (await client.get(contract.OPENAPI_PATH)).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (contract.HEALTH_PATH, contract.READY_PATH, contract.OPENAPI_PATH, ASSESSMENTS):
        assert path in paths
    assert set(paths[ASSESSMENTS]) == {"get", "post"}
    assert "/api/v1/assessments/{assessment_id}" in paths
    assert "/api/v1/frameworks" in paths
    app = client._transport.app  # type: ignore[attr-defined]
    for route in app.routes:
        templated = route.path.split(":")[0] + ("}" if ":" in route.path else "")
        assert templated in paths, route.path


@pytest.mark.anyio
async def test_request_id_is_echoed_or_made_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    given = await client.get(ASSESSMENTS, headers={"X-Request-ID": "trace-abc-123"})
    assert given.headers["x-request-id"] == "trace-abc-123"
    made = await client.get(ASSESSMENTS)
    assert len(made.headers["x-request-id"]) == 32
    too_long = await client.get(ASSESSMENTS, headers={"X-Request-ID": "x" * 500})
    assert too_long.headers["x-request-id"] != "x" * 500
    formatter = JsonFormatter()
    access = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "service.access"]
    assert access[0]["request_id"] == "trace-abc-123"
    assert access[0]["message"] == f"GET {ASSESSMENTS} 200"
    assert access[0]["status"] == 200
    assert "duration_ms" in access[0]


@pytest.mark.anyio
async def test_ready_follows_migrations_applied_after_start(state: AppState) -> None:
    """AUTO_MIGRATE off: a migration Job finishes after the process started."""
    started_early = replace(state, migrations_at_head=False)
    assert await ready_problems(started_early) == (200, [])
    assert started_early.migrations_at_head is False  # start-up state is left as it was


@pytest.mark.anyio
async def test_an_unreadable_secret_answers_503_not_500(state: AppState) -> None:
    class SecretsManagerDown:
        async def database_credentials(self) -> DatabaseCredentials:
            raise SecretError("secret arn:...:co/db could not be read: ServiceUnavailable")

        async def refresh(self) -> DatabaseCredentials:
            raise NotImplementedError

    db = Database(SecretsManagerDown(), min_size=0)
    await db.open()
    try:
        app = create_app(replace(state, db=db))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://co.test", headers=AUTH_HEADERS
        ) as http:
            response = await http.get(ASSESSMENTS)
    finally:
        await db.close()
    assert response.status_code == 503
    assert response.json() == {"error": "database unavailable"}
