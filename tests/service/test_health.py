"""/ready is not starved by slow API queries; API queries end at the statement timeout."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import asyncpg
import httpx
import pytest

from service import contract
from service.app import create_app
from service.db import Database
from service.state import AppState
from tests.service.process import AUTH_HEADERS


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
