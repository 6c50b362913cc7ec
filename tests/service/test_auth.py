"""API authentication: missing, malformed, wrong, current, previous and rotated tokens.

In process over ASGI on the real database; rotation reads a real secret from the AWS
emulator (moto in server mode) through the service's own SecretResolver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from localstack_client.session import Session

from service import contract
from service.app import create_app
from service.auth import UNAUTHORISED_BODY, ApiTokens, api_tokens
from service.config import load_settings
from service.secrets import SecretResolver
from service.state import AppState
from tests.support.aws import emulator_session
from tests.support.process import API_TOKEN

ASSESSMENTS = "/api/v1/assessments"
FRAMEWORKS = "/api/v1/frameworks"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def anonymous(state: AppState) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app that sends no credentials of its own."""
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://co.test") as http:
        yield http


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {API_TOKEN}"},
        {"Authorization": f"Bearer {API_TOKEN} extra"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
        {"Authorization": f"Bearer {API_TOKEN}x"},
        {"Cookie": f"token={API_TOKEN}; session={API_TOKEN}"},
        {"X-Api-Key": API_TOKEN},
    ],
    ids=lambda h: next(iter(h.items()), ("none", ""))[0] + ":" + str(len(str(h))),
)
async def test_every_way_of_not_holding_the_token_gets_the_same_401(
    anonymous: httpx.AsyncClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for method, path in (("GET", FRAMEWORKS), ("GET", ASSESSMENTS), ("POST", ASSESSMENTS)):
        response = await anonymous.request(
            method, path, headers=headers, json={"name": "n", "framework_id": "cis-aws-v3"}
        )
        assert response.status_code == 401, (method, path)
        assert response.content == UNAUTHORISED_BODY
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "set-cookie" not in response.headers
    refused = [r for r in caplog.records if r.name == "service.auth"]
    assert len(refused) == 3
    assert all(getattr(r, "request_id", None) for r in refused)
    assert API_TOKEN not in caplog.text


@pytest.mark.anyio
async def test_the_current_token_opens_every_api_route_and_probes_need_none(
    anonymous: httpx.AsyncClient,
) -> None:
    for path in (FRAMEWORKS, ASSESSMENTS, "/api/v1/controls?limit=1"):
        assert (await anonymous.get(path, headers=bearer(API_TOKEN))).status_code == 200
    created = await anonymous.post(
        ASSESSMENTS, headers=bearer(API_TOKEN), json={"name": "n", "framework_id": "cis-aws-v3"}
    )
    assert created.status_code == 201
    # The scheme name is case-insensitive (RFC 7235 section 2.1).
    lower = await anonymous.get(FRAMEWORKS, headers={"Authorization": f"bearer {API_TOKEN}"})
    assert lower.status_code == 200
    for path in (contract.HEALTH_PATH, contract.READY_PATH, contract.OPENAPI_PATH):
        assert (await anonymous.get(path)).status_code == 200


@pytest.mark.anyio
async def test_without_a_configured_secret_the_api_is_closed(state: AppState) -> None:
    for tokens in (None, ApiTokens(None)):
        app = create_app(replace(state, tokens=tokens))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://co.test") as http:
            for headers in ({}, bearer(""), bearer("anything")):
                assert (await http.get(FRAMEWORKS, headers=headers)).status_code == 401


def put_secret(endpoint: str, arn: str, value: str) -> None:
    client = emulator_session(endpoint).client("secretsmanager")
    client.put_secret_value(SecretId=arn, SecretString=value)


@pytest.mark.anyio
async def test_a_rotated_secret_is_read_once_and_the_previous_token_expires_after_the_overlap(
    aws: str, aws_clients: Session, database_url: str
) -> None:
    client = aws_clients.client("secretsmanager")
    arn = client.create_secret(Name="co/app-token", SecretString="first-token")["ARN"]
    settings = load_settings(
        {"DATABASE_URL": database_url, "APP_SECRET_ARN": arn, "APP_SECRET_OVERLAP": "60"}
    )
    resolver = SecretResolver(settings)
    clock = Clock()
    real = await api_tokens(resolver)
    tokens = ApiTokens("first-token", real._reread, overlap=60, clock=clock)
    assert await tokens.verify(b"first-token")
    assert not await tokens.verify(b"second-token")  # not rotated yet: one read, refused
    assert tokens.refresh_count == 1

    put_secret(aws, arn, '{"APP_SECRET": "second-token"}')  # the console's key/value form
    clock.now += 1
    # Within the refresh interval a wrong token causes no read, however many arrive.
    assert not await tokens.verify(b"second-token")
    assert tokens.refresh_count == 1
    clock.now += 10
    # Many requests with the new token at once: one read for all of them.
    results = await asyncio.gather(*(tokens.verify(b"second-token") for _ in range(20)))
    assert all(results)
    assert tokens.refresh_count == 2
    assert await tokens.verify(b"first-token"), "the previous token is refused during the overlap"
    clock.now += 61
    assert not await tokens.verify(b"first-token"), "the previous token outlived the overlap"
    assert await tokens.verify(b"second-token")


@pytest.mark.anyio
async def test_an_old_current_token_is_re_read_in_the_background(
    aws: str, aws_clients: Session, database_url: str
) -> None:
    client = aws_clients.client("secretsmanager")
    arn = client.create_secret(Name="co/app-token-2", SecretString="one")["ARN"]
    resolver = SecretResolver(load_settings({"DATABASE_URL": database_url, "APP_SECRET_ARN": arn}))
    clock = Clock()
    tokens = ApiTokens("one", resolver.reread_app_secret, overlap=30, clock=clock)
    put_secret(aws, arn, "two")
    clock.now += 301  # past REREAD_AFTER: the next good request schedules a re-read
    assert await tokens.verify(b"one")
    for _ in range(100):
        if tokens.refresh_count:
            break
        await asyncio.sleep(0.02)
    assert await tokens.verify(b"two")
    assert await tokens.verify(b"one")  # the overlap
    clock.now += 31
    assert not await tokens.verify(b"one")


@pytest.mark.anyio
async def test_an_unreadable_secret_keeps_the_tokens_already_held(database_url: str) -> None:
    async def broken() -> str | None:
        raise OSError("Secrets Manager unreachable")

    tokens = ApiTokens("kept", broken, clock=Clock())
    assert not await tokens.verify(b"other")
    assert await tokens.verify(b"kept")


@pytest.mark.anyio
async def test_openapi_declares_the_bearer_scheme_and_401_on_every_api_operation(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (await anonymous.get(contract.OPENAPI_PATH)).json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    for path, operations in document["paths"].items():
        for verb, operation in operations.items():
            if path.startswith("/api/"):
                assert operation["security"] == [{"bearerAuth": []}], (path, verb)
                assert "401" in operation["responses"], (path, verb)
            else:
                assert "security" not in operation, (path, verb)
    post = document["paths"][ASSESSMENTS]["post"]["responses"]
    assert {"413", "415", "422"} <= set(post)
