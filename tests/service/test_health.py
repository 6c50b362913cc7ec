"""The probes (service.health): /ready is not starved by slow API queries, /health shows
the licence and names components but no secret; API queries end at the statement timeout."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from service import contract
from service.app import create_app
from service.db import Database
from service.health import DependencyChecks
from service.license import HEALTH_COMPONENT, LicenceStatus
from service.state import AppState
from tests.support.process import (
    AUTH_HEADERS,
    StartService,
)


@pytest.mark.anyio
async def test_ready_answers_while_slow_queries_hold_every_pooled_connection(
    state: AppState, database_url: str
) -> None:
    db = Database.from_url(database_url, max_size=2, acquire_timeout=5)
    await db.open()
    try:
        app = create_app(replace(state, db=db))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
        ) as http:

            async def slow() -> None:
                async with db.connection() as conn:
                    await conn.execute("SELECT pg_sleep(3)")

            holders = [asyncio.ensure_future(slow()) for _ in range(2)]
            await asyncio.sleep(0.3)  # both pooled connections are now busy
            started = time.monotonic()
            ready = await http.get(contract.READY_PATH)
            elapsed = time.monotonic() - started
            assert ready.status_code == 200, ready.text
            assert elapsed < 1.0, f"/ready waited {elapsed:.1f}s behind the pool"
            health = (await http.get(contract.HEALTH_PATH)).json()
            assert health["checks"]["database"][0]["status"] == "pass"
            await asyncio.gather(*holders)
    finally:
        await db.close()


@pytest.mark.anyio
async def test_a_query_past_the_statement_timeout_is_cancelled(database_url: str) -> None:
    db = Database.from_url(database_url, statement_timeout=0.3)
    await db.open()
    try:
        started = time.monotonic()
        with pytest.raises(asyncpg.QueryCanceledError):
            async with db.connection() as conn:
                await conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2
        async with db.connection() as conn:
            setting = await conn.fetchval("SHOW statement_timeout")
        assert setting == "300ms"
    finally:
        await db.close()


@pytest.mark.anyio
async def test_the_default_statement_timeout_applies_to_the_request_pool(
    database_url: str,
) -> None:
    db = Database.from_url(database_url)
    await db.open()
    try:
        async with db.connection() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == f"{contract.STATEMENT_TIMEOUT}s"
    finally:
        await db.close()


@pytest.mark.anyio
async def test_health_bodies_name_components_but_no_host_user_or_url(
    state: AppState,
) -> None:
    unreachable = Database.from_url("postgresql://secret_user:pw@10.255.255.1:5999/x")
    unreachable.connect_timeout = 0.3
    await unreachable.open()
    app = create_app(replace(state, db=unreachable))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://co.test") as http:
        health = await http.get(contract.HEALTH_PATH)
        ready = await http.get(contract.READY_PATH)
    await unreachable.close()
    for body in (health.text, ready.text):
        for leak in ("10.255.255.1", "5999", "secret_user", "postgresql://", "Traceback"):
            assert leak not in body, (leak, body)
    assert ready.status_code == 503
    assert "database" in ready.text


@pytest.mark.anyio
async def test_health_shows_the_licence_and_ready_ignores_it(state: AppState) -> None:
    state.licence = None  # startup step 7 (the licence check) has not run yet
    app = create_app(state)
    # No cache, so each probe sees the state as it is now.
    app.state.dependency_checks = DependencyChecks(state, ttl=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
    ) as client:
        # Before step 7 has run: a warning, and readiness is not affected.
        health = (await client.get("/health")).json()
        (licence,) = health["checks"][HEALTH_COMPONENT]
        assert licence["status"] == "warn"
        assert licence["output"] == "not checked yet"
        assert health["status"] == "warn"
        assert (await client.get("/ready")).status_code == 200

        state.licence = LicenceStatus("off", None, None, 0, datetime.now(UTC))
        health = (await client.get("/health")).json()
        (licence,) = health["checks"][HEALTH_COMPONENT]
        assert licence["status"] == "pass"
        assert licence["output"] == "licensing off (MARKETPLACE_PRODUCT_CODE not set)"
        assert health["status"] == "pass"

        state.licence = LicenceStatus(
            "registered", "prod-abc123", "eu-west-1", 2, datetime(2026, 1, 2, tzinfo=UTC)
        )
        (licence,) = (await client.get("/health")).json()["checks"][HEALTH_COMPONENT]
        assert licence["status"] == "pass"
        assert licence["output"].startswith(
            "RegisterUsage accepted for product prod-abc123 in eu-west-1 after 2 attempt(s)"
        )
        assert (await client.get("/ready")).status_code == 200


def test_running_service_reports_licensing_off_on_health(
    service_env: dict[str, str], start_service: StartService
) -> None:
    service = start_service(service_env)
    service.wait_until_ready()
    health = service.get("/health").json()
    (licence,) = health["checks"][HEALTH_COMPONENT]
    assert licence["status"] == "pass"
    assert licence["output"] == "licensing off (MARKETPLACE_PRODUCT_CODE not set)"
