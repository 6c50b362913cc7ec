"""GET /: the landing page, in process and in a real browser (Debian's headless Chromium)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service import contract, landing
from service.app import create_app
from service.config import DEFAULT_MIGRATIONS_DIR, load_settings
from service.credentials import DatabaseCredentials
from service.db import Database
from service.ib import initialise_ib
from service.kb import default_directory, load_knowledge_base
from service.kb_validation import validate_knowledge_base
from service.migrate import apply_migrations, expected_migration_ids
from service.state import AppState
from tests.service import browser
from tests.support.pg import PostgresCluster
from tests.support.process import StartService, service_environment, wait_for

APP_SECRET = "landing-Secret-9f2c!"  # a test value that must never appear
DB_PASSWORD = "db-Passw0rd-7e1a"  # trust auth ignores it; so must the page
EXPECTED_LINKS = {
    contract.OPENAPI_PATH,
    landing.OPERATOR_GUIDE_PATH,
    contract.HEALTH_PATH,
    contract.READY_PATH,
}


def with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@", 1)


def shipped_counts() -> dict[str, tuple[str, int]]:
    """Framework id -> (name, control count), from the knowledge base's own files."""
    base = validate_knowledge_base(default_directory())
    return {
        f.id: (f.name, sum(c.framework == f.id for c in base.controls)) for f in base.frameworks
    }


@pytest.fixture
async def state(database_url: str) -> AsyncIterator[AppState]:
    """Like the shared fixture, with an application secret and a database password set."""
    url = with_password(database_url)
    apply_migrations(DatabaseCredentials.from_url(url), DEFAULT_MIGRATIONS_DIR)
    settings = load_settings({"DATABASE_URL": url, "APP_SECRET": APP_SECRET})
    db = Database.from_url(url, max_size=3)
    await db.open()
    try:
        ib = await initialise_ib(db)
        yield AppState(
            settings=settings,
            db=db,
            ib=ib,
            kb=await load_knowledge_base(db, settings.compliance_dir, ib=ib),
            migrations_at_head=True,
            expected_migrations=expected_migration_ids(DEFAULT_MIGRATIONS_DIR),
        )
    finally:
        await db.close()


def assert_is_the_landing_page(document: str) -> browser.PageText:
    page = browser.PageText(document)
    text = page.visible
    assert f"{landing.PRODUCT_NAME} Version {contract.VERSION}" in text
    for component in ("database", "ib_platform", "redis", "marketplace_licence"):
        assert component in text, component
    assert "Authorization: Bearer <token>" in text
    assert contract.ENV_APP_SECRET in text
    assert contract.ENV_APP_SECRET_ARN in text
    assert set(page.links) >= EXPECTED_LINKS
    # Nothing from elsewhere: no scripts, images, stylesheets, frames or absolute links.
    assert not [t for t, _ in page.tags if t in {"script", "img", "link", "iframe", "object"}]
    assert not [link for link in page.links if "//" in link]
    assert APP_SECRET not in document
    assert DB_PASSWORD not in document
    return page


def assert_lists_the_knowledge_base(page: browser.PageText) -> None:
    text = page.visible
    for framework_id, (name, count) in shipped_counts().items():
        assert f"{framework_id} {count}" in text, (framework_id, count)
        assert name in text
    total = sum(count for _, count in shipped_counts().values())
    assert f"Total {total}" in text


@pytest.mark.anyio
async def test_the_page_shows_product_health_knowledge_base_and_the_api(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")  # no Authorization header
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    assert "script-src" not in policy
    assert response.headers["cache-control"] == "no-store"
    page = assert_is_the_landing_page(response.text)
    assert_lists_the_knowledge_base(page)
    assert "Status: ready" in page.visible


@pytest.mark.anyio
async def test_the_operator_guide_is_served_as_text(client: httpx.AsyncClient) -> None:
    response = await client.get(landing.OPERATOR_GUIDE_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == (Path(__file__).parents[2] / "docs" / "operations.md").read_text()


@pytest.mark.anyio
async def test_the_page_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get(contract.OPENAPI_PATH)).json()["paths"]
    assert "text/html" in paths["/"]["get"]["responses"]["200"]["content"]
    assert "security" not in paths["/"]["get"]  # open: only /api/ declares the bearer scheme


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_only_get_is_answered(client: httpx.AsyncClient, method: str) -> None:
    assert (await client.request(method, "/")).status_code == 405


@pytest.mark.anyio
async def test_with_the_database_unreachable_the_page_still_renders() -> None:
    """Never connected: the components fail, the knowledge base is 'not loaded yet'."""
    settings = load_settings({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"})
    state = AppState(
        settings=settings, db=Database.from_url("postgresql://postgres@127.0.0.1:1/none")
    )
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://co.test") as http:
        response = await http.get("/")
    assert response.status_code == 200
    page = browser.PageText(response.text)
    assert "database fail" in page.visible
    assert "Status: not ready" in page.visible
    assert "The knowledge base is not loaded yet." in page.visible


@pytest.mark.slow
def test_in_chromium_with_the_database_up_then_down(
    private_postgres: PostgresCluster, start_service: StartService, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("LANDING_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    env = service_environment(
        DATABASE_URL=with_password(private_postgres.url), APP_SECRET=APP_SECRET, SHUTDOWN_DELAY="0"
    )
    service = start_service(env)
    service.wait_until_ready()

    page = assert_is_the_landing_page(browser.dump_dom(service.url + "/"))
    assert_lists_the_knowledge_base(page)
    assert "database pass" in page.visible
    up = browser.screenshot(service.url + "/", shots / "landing-database-up.png")
    print(f"\nscreenshot (database up): {up}")

    private_postgres.stop()
    wait_for(lambda: service.get(contract.READY_PATH).status_code == 503, 15, "503 on /ready")
    assert service.get("/").status_code == 200
    page = assert_is_the_landing_page(browser.dump_dom(service.url + "/"))
    assert "database fail" in page.visible
    assert "Status: not ready" in page.visible
    # The knowledge base as last read: still listed, not a 500.
    assert_lists_the_knowledge_base(page)
    down = browser.screenshot(service.url + "/", shots / "landing-database-down.png")
    print(f"screenshot (database down): {down}")
    assert "Traceback" not in service.logs()
