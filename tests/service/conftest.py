"""Fixtures for the service tests: the app's state on a real database, environments and
real service processes."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from service import contract
from service.app import create_app
from service.auth import ApiTokens
from service.config import DEFAULT_MIGRATIONS_DIR, load_settings
from service.credentials import DatabaseCredentials
from service.db import Database
from service.ib import initialise_ib
from service.kb import load_knowledge_base
from service.license import check_licence
from service.migrate import apply_migrations, expected_migration_ids
from service.state import AppState
from tests.support.audit import OpenedFiles
from tests.support.process import (
    API_TOKEN,
    AUTH_HEADERS,
    ServiceProcess,
    StartService,
    service_environment,
)

SMALL_KB = Path(__file__).parent / "kb_fixtures" / "small"


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A writable copy of the small fixture knowledge base."""
    target = tmp_path / "compliance"
    shutil.copytree(SMALL_KB, target)
    return target


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open connection pool on the test's database."""
    database = Database.from_url(database_url)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def state(database_url: str) -> AsyncIterator[AppState]:
    """The state the entrypoint builds: every migration applied, IB and the shipped knowledge
    base loaded, the licence checked (licensing off: no product code set)."""
    apply_migrations(DatabaseCredentials.from_url(database_url), DEFAULT_MIGRATIONS_DIR)
    settings = load_settings({"DATABASE_URL": database_url})
    db = Database.from_url(database_url, max_size=3)
    await db.open()
    try:
        ib = await initialise_ib(db)
        kb = await load_knowledge_base(db, settings.compliance_dir, ib=ib)
        licence = await check_licence(settings)
        yield AppState(
            settings=settings,
            db=db,
            ib=ib,
            kb=kb,
            licence=licence,
            migrations_at_head=True,
            expected_migrations=expected_migration_ids(DEFAULT_MIGRATIONS_DIR),
            tokens=ApiTokens(API_TOKEN),
        )
    finally:
        await db.close()


@pytest.fixture
async def client(state: AppState) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``state`` (a test module may override ``state``), in process over ASGI."""
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
    ) as http:
        yield http


@pytest.fixture
def service_env(database_url: str) -> dict[str, str]:
    """The local form: DATABASE_URL alone (plus test-speed drain and wait times)."""
    return service_environment(
        **{
            contract.ENV_DATABASE_URL: database_url,
            contract.ENV_SHUTDOWN_DELAY: "0",
            contract.ENV_DB_WAIT_TIMEOUT: "10",
        }
    )


@pytest.fixture
def start_service() -> Iterator[StartService]:
    """Start real service processes; every one is stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def start(env: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        process.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def opened_files() -> OpenedFiles:
    return OpenedFiles()
