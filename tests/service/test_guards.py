"""Hostile input answers 4xx, never 500: one test per class of input.

In process over ASGI on the real database, and against a real ``python -m service`` where
the server's own behaviour matters (headers, memory under a huge body, slow senders).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from hypercorn.protocol.h11 import H11Protocol

from service import assessments, contract, protocol_log
from service.app import create_app
from service.db import Database
from service.guards import RequestGuardMiddleware
from service.state import AppState
from tests.support.process import API_TOKEN, AUTH_HEADERS, ServiceProcess, bare_environment

ASSESSMENTS = "/api/v1/assessments"
JSON = {"Content-Type": "application/json"}


async def post(client: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    return await client.post(ASSESSMENTS, content=body, headers={**JSON, **headers})


# --- Media types ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",  # what an HTML form can post cross-site without a preflight
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonx",
    ],
)
async def test_a_write_that_is_not_json_is_refused_with_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    body = json.dumps({"name": "n", "framework_id": "cis-aws-v3"}).encode()
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await client.post(ASSESSMENTS, content=body, headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]
    assert (await client.get(ASSESSMENTS)).json()["items"] == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=UTF-8", "application/x+json"]
)
async def test_json_media_types_are_accepted(client: httpx.AsyncClient, content_type: str) -> None:
    body = json.dumps({"name": "n", "framework_id": "cis-aws-v3"}).encode()
    response = await client.post(ASSESSMENTS, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 201


# --- Contents --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("blank", [" ", "\u0085", "\x1c", "\u3000", "\ufeff\t"])
async def test_a_name_blank_in_either_regex_dialect_is_refused_as_the_schema_says(
    client: httpx.AsyncClient, blank: str
) -> None:
    """The schema's pattern and the service agree on what is blank, in Python's and in
    ECMAScript's regular expressions (schemathesis found U+0085 accepted by one only)."""
    schema = re.compile(assessments.NAME_PATTERN, re.DOTALL)
    assert schema.fullmatch(blank) is None
    body = json.dumps({"name": blank, "framework_id": "cis-aws-v3"}).encode()
    response = await post(client, body)
    assert response.status_code == 422, response.text
    assert "name" in response.json()["error"]
    named = json.dumps({"name": blank + "x", "framework_id": "cis-aws-v3"}).encode()
    assert (await post(client, named)).status_code == 201


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b'{"name": "a\\u0000b", "framework_id": "cis-aws-v3"}', 422, "NUL"),
        (b'{"name": "ok", "framework_id": "cis\\u0000"}', 422, "NUL"),
        (b'{"name": "\\ud800", "framework_id": "cis-aws-v3"}', 422, "surrogate"),
        (b'{"name\\u0000": 1, "name": "x", "framework_id": "cis-aws-v3"}', 422, "key"),
        (b'{"name": "x", "framework_id": "cis-aws-v3", "extra": 1}', 422, "unknown"),
        (b"[" * 30_000 + b"]" * 30_000, 400, "nested"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, 400, "nested"),
        (b'{"name": "x", "framework_id": "cis-aws-v3", "n": 1' + b"0" * 30 + b"}", 422, "range"),
        (b'{"name": "x", "n": ' + b"9" * 5000 + b"}", 400, "JSON"),
        (b"\xff\xfe{}", 400, "UTF-8"),
        (b'{"name": "x", "framework_id": "no-such-framework"}', 422, "framework_id"),
        (b'{"name": "x", "framework_id": 7}', 422, "framework_id"),
    ],
)
async def test_hostile_bodies_get_a_4xx_naming_the_problem(
    client: httpx.AsyncClient, body: bytes, status: int, named: str
) -> None:
    response = await post(client, body)
    assert response.status_code == status, response.text
    assert named in response.json()["error"]


@pytest.mark.anyio
async def test_a_long_unknown_field_is_named_not_sent_back_whole(
    client: httpx.AsyncClient,
) -> None:
    key = "k" * 50_000
    body = json.dumps({"name": "x", "framework_id": "cis-aws-v3", key: 1}).encode()
    response = await post(client, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith("unknown field 'kkk")
    assert "... (50000 characters)" in error
    assert len(error) < 300


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "status"),
    [
        (ASSESSMENTS + "?before=99999999999999999999", 400),
        (ASSESSMENTS + "?before=-1", 400),
        (ASSESSMENTS + "?limit=%2B5", 400),
        (ASSESSMENTS + "?limit=1_0", 400),
        (ASSESSMENTS + "?limit=%D9%A5", 400),  # an Arabic-Indic five
        (ASSESSMENTS + "?limit=" + "9" * 5000, 400),
        (ASSESSMENTS + "/99999999999999999999", 404),
        (ASSESSMENTS + "/9223372036854775808", 404),
        (ASSESSMENTS + "/%00", 404),
        (ASSESSMENTS + "/%ED%A0%80", 404),
        ("/api/v1/controls?q=%00", 400),
        ("/api/v1/controls?q=%ED%A0%80", 200),  # decoded as U+FFFD: matches nothing
        ("/api/v1/controls/%00", 404),
        ("/api/v1/frameworks/%ED%A0%80", 404),
    ],
)
async def test_hostile_paths_and_parameters_get_a_4xx(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    assert (await client.get(path)).status_code == status


# --- Size and speed -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_declared_oversized_body_is_refused_before_it_is_read(
    client: httpx.AsyncClient,
) -> None:
    big = b'{"name": "' + b"x" * contract.MAX_BODY_BYTES_DEFAULT + b'"}'
    response = await post(client, big)
    assert response.status_code == 413
    assert str(contract.MAX_BODY_BYTES_DEFAULT) in response.json()["error"]
    exact = b" " * (contract.MAX_BODY_BYTES_DEFAULT - 2) + b"{}"
    assert (await post(client, exact)).status_code == 422  # the limit itself is allowed


@pytest.mark.anyio
async def test_a_chunked_body_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 16 MB if all were read
            sent += 1
            yield b"x" * 16384

    response = await client.post(ASSESSMENTS, content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert sent < 10, f"{sent} chunks were read"


@pytest.mark.anyio
async def test_a_slow_body_times_out_with_408() -> None:
    answered: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send: object) -> None:
        while True:
            message = await receive()  # type: ignore[operator]
            if not message.get("more_body"):
                break

    async def slow_receive() -> dict[str, object]:
        await asyncio.sleep(0.2)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message: dict[str, object]) -> None:
        answered.append(message)

    guard = RequestGuardMiddleware(app, max_body_bytes=1000, body_timeout=0.5)
    scope: dict[str, object] = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/assessments",
        "headers": [(b"content-type", b"application/json")],
    }
    started = time.monotonic()
    await guard(scope, slow_receive, send)  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0
    assert answered[0]["status"] == 408


# --- Methods, headers, crashes ------------------------------------------------------------------


@pytest.mark.anyio
async def test_options_and_405_list_the_methods_actually_served(
    client: httpx.AsyncClient,
) -> None:
    options = await client.options(ASSESSMENTS)
    assert options.status_code == 204
    assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    detail = await client.options(ASSESSMENTS + "/1")
    assert set(detail.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    deleted = await client.delete(ASSESSMENTS)
    assert deleted.status_code == 405
    assert set(deleted.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert (await client.put(ASSESSMENTS + "/1", json={})).status_code == 405


@pytest.mark.anyio
async def test_every_response_carries_nosniff(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get(contract.HEALTH_PATH),
        await client.get(ASSESSMENTS),
        await client.get("/nowhere"),
        await client.get(ASSESSMENTS, headers={"Authorization": "Bearer wrong"}),
        await post(client, b"{"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.anyio
async def test_a_crash_is_one_json_500_and_one_log_record_with_the_request_id(
    state: AppState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    unopened = Database.from_url("postgresql://nobody@127.0.0.1:1/none")  # raises RuntimeError
    app = create_app(replace(state, db=unopened))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://co.test", headers=AUTH_HEADERS
    ) as http:
        response = await http.get(ASSESSMENTS, headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error", "request_id": "crash-1"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None


# --- The real server ----------------------------------------------------------------------------


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess(bare_environment(database_url), log_path=tmp_path / "log").start()
    try:
        service.wait_until_ready(60)
        yield service
    finally:
        service.stop()


def peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def send_raw(port: int, head: bytes, body_chunks: Iterator[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what a limit should do
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def test_the_server_refuses_a_400_mb_body_without_growing_and_names_no_version(
    served: ServiceProcess,
) -> None:
    assert served.proc is not None
    before = peak_memory_kib(served.proc.pid)
    megabyte = b"x" * (1 << 20)
    for framing in ("content-length", "chunked"):
        if framing == "content-length":
            head_extra = b"Content-Length: 419430400\r\n"
            chunks: Iterator[bytes] = iter([megabyte] * 400)
        else:
            head_extra = b"Transfer-Encoding: chunked\r\n"
            chunks = iter([b"100000\r\n" + megabyte + b"\r\n"] * 400)
        head = (
            b"POST /api/v1/assessments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {API_TOKEN}\r\n".encode()
            + head_extra
            + b"\r\n"
        )
        answer = send_raw(served.port, head, chunks)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    grown_mib = (peak_memory_kib(served.proc.pid) - before) / 1024
    assert grown_mib < 20, f"peak memory grew {grown_mib:.0f} MiB"
    response = served.get("/api/v1/frameworks")
    assert response.status_code == 200
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_protocol_error_log_wraps_hypercorn_once() -> None:
    protocol_log.install()
    wrapped = H11Protocol._send_error_response
    protocol_log.install()
    assert H11Protocol._send_error_response is wrapped
    assert wrapped.__module__ == protocol_log.__name__


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"POST /api/v1/assessments HTTP/1.1\r\nHost: x\r\nContent-Length: a lot\r\n\r\n",
    ],
)
def test_malformed_http_is_refused_with_400_and_logged_with_a_request_id(
    served: ServiceProcess, request_bytes: bytes
) -> None:
    """Hypercorn answers these before any request reaches the app; the log still says so,
    in one JSON line with a request id, and echoes nothing the client sent."""
    answer = send_raw(served.port, request_bytes, iter(()))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    deadline = time.monotonic() + 5
    records: list[dict[str, object]] = []
    while not records and time.monotonic() < deadline:
        records = [r for r in served.records() if "malformed HTTP" in str(r["message"])]
        time.sleep(0.1)
    assert records, served.logs()
    assert all(r.get("request_id") for r in records)
    assert all("GARBAGE" not in str(r) and "no colon" not in str(r) for r in records)


def test_the_server_times_out_a_slow_body(served: ServiceProcess) -> None:
    head = (
        b"POST /api/v1/assessments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {API_TOKEN}\r\nContent-Length: 1000\r\n\r\n".encode()
    )

    def trickle() -> Iterator[bytes]:
        for _ in range(contract.BODY_READ_TIMEOUT * 2 + 5):
            yield b" "
            time.sleep(0.5)

    started = time.monotonic()
    answer = send_raw(served.port, head, trickle())
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < contract.BODY_READ_TIMEOUT + 5
    records = [r for r in served.records() if "not received within" in r["message"]]
    assert records
    assert all(r.get("request_id") for r in records)
