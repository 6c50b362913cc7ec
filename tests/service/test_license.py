"""The Marketplace licence check against a local endpoint that speaks RegisterUsage.

The endpoint is a real HTTP server on 127.0.0.1 answering the AWS JSON 1.1 protocol that
``meteringmarketplace`` uses (``X-Amz-Target: AWSMPMeteringService.RegisterUsage``), so
the request goes through aioboto3, signing and error parsing exactly as in production.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from service import contract
from service.license import LicenceError, LicenceStatus, check_licence
from tests.support.aws import FAKE_CREDENTIALS
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
SMALL_KB = Path(__file__).parent / "kb_fixtures" / "small"
PRODUCT_CODE = "co1b2c3d4e5f6g7h8i9j0k"
TASK_REGION = "eu-west-2"  # differs from the credentials' default region on purpose
SIGNATURE = "eyJhbGciOiJQUzI1NiJ9.secret-token-never-stored"
TARGET = "AWSMPMeteringService.RegisterUsage"


def aws_error(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": code, "message": message}


ACCEPTED = (200, {"PublicKeyRotationTimestamp": 1.7e9, "Signature": SIGNATURE})
THROTTLED = aws_error("ThrottlingException", "Rate exceeded")
NOT_ENTITLED = aws_error(
    "CustomerNotEntitledException", "Customer is not entitled to use this product"
)
NOT_SUPPORTED = aws_error(
    "PlatformNotSupportedException", "RegisterUsage is only supported on ECS, EKS and Fargate"
)


@dataclass
class RegisterUsageEndpoint:
    """Answers scripted responses in order (then ACCEPTED) and records every request."""

    url: str
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[RegisterUsageEndpoint]:
    port = free_port()
    state = RegisterUsageEndpoint(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if self.headers.get("X-Amz-Target") != TARGET:
                status, answer = aws_error("UnknownOperationException", "unexpected target")
            else:
                status, answer = state.script.pop(0) if state.script else ACCEPTED
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", state.url)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Settings:
    marketplace_product_code: str | None = PRODUCT_CODE
    aws_region: str | None = TASK_REGION


@pytest.mark.anyio
async def test_unset_product_code_turns_licensing_off_without_calling_aws(
    endpoint: RegisterUsageEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.license"):
        status = await check_licence(Settings(marketplace_product_code=None))
    assert status.licensing == "off"
    assert endpoint.requests == []
    assert "licensing is off: MARKETPLACE_PRODUCT_CODE is not set" in caplog.text
    assert status.output == "licensing off (MARKETPLACE_PRODUCT_CODE not set)"


@pytest.mark.anyio
async def test_register_usage_once_in_the_task_region(endpoint: RegisterUsageEndpoint) -> None:
    status = await check_licence(Settings())

    assert (status.licensing, status.product_code, status.region, status.attempts) == (
        "registered",
        PRODUCT_CODE,
        TASK_REGION,
        1,
    )
    ((headers, body),) = endpoint.requests
    assert headers["x-amz-target"] == TARGET
    assert body == {"ProductCode": PRODUCT_CODE, "PublicKeyVersion": 1}
    # SigV4 credential scope: <key>/<date>/<region>/<signing name>/aws4_request
    assert f"/{TASK_REGION}/aws-marketplace/aws4_request" in headers["authorization"]
    # The result is recorded for /health; the signed token is not.
    assert SIGNATURE not in repr(status)
    assert SIGNATURE not in status.output
    assert status.status == "pass"


def retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The delays botocore's standard retry mode chose, from its own log."""
    prefix = "Retry needed, retrying request after delay of: "
    return [
        float(record.getMessage().removeprefix(prefix))
        for record in caplog.records
        if record.name == "botocore.retries.standard" and record.getMessage().startswith(prefix)
    ]


@pytest.mark.anyio
async def test_throttling_is_retried_with_growing_backoff(
    endpoint: RegisterUsageEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.script = [THROTTLED, THROTTLED]

    with caplog.at_level(logging.DEBUG, logger="botocore.retries.standard"):
        status = await check_licence(Settings())

    assert status.attempts == 3
    assert len(endpoint.requests) == 3
    delays = retry_delays(caplog)
    assert len(delays) == 2
    # Full jitter: each delay is at most the exponential bound 1, then 2 seconds.
    assert all(0 <= delay <= bound for delay, bound in zip(delays, (1, 2), strict=True))


@pytest.mark.anyio
async def test_throttling_that_never_ends_is_a_refusal(endpoint: RegisterUsageEndpoint) -> None:
    endpoint.script = [THROTTLED] * 10
    with pytest.raises(LicenceError, match="still throttled after 3 attempts") as caught:
        await check_licence(Settings(), max_attempts=3)
    assert len(endpoint.requests) == 3
    assert caught.value.aws_code == "ThrottlingException"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [NOT_ENTITLED, NOT_SUPPORTED, aws_error("InvalidProductCodeException", "bad code")],
    ids=["not-entitled", "platform-not-supported", "invalid-product-code"],
)
async def test_any_other_error_refuses_with_aws_reason_and_no_retry(
    endpoint: RegisterUsageEndpoint, answer: tuple[int, dict[str, Any]]
) -> None:
    endpoint.script = [answer]
    with pytest.raises(LicenceError) as caught:
        await check_licence(Settings())
    code, message = answer[1]["__type"], answer[1]["message"]
    assert caught.value.aws_code == code
    assert f"{code}: {message}" in str(caught.value)
    assert caught.value.exit_code == contract.EXIT_NOPERM
    assert len(endpoint.requests) == 1


@pytest.mark.anyio
async def test_unreachable_endpoint_is_a_refusal(
    endpoint: RegisterUsageEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    # A refused connection is retried like throttling; two attempts keep the wait short.
    with pytest.raises(LicenceError, match="could not be called"):
        await check_licence(Settings(), max_attempts=2)


@pytest.mark.anyio
async def test_missing_region_is_a_refusal(
    endpoint: RegisterUsageEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(LicenceError, match="AWS_REGION is not set"):
        await check_licence(Settings(aws_region=None))
    assert endpoint.requests == []


def _service_env(database_url: str, endpoint: RegisterUsageEndpoint) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **FAKE_CREDENTIALS,
        "AWS_REGION": TASK_REGION,
        "AWS_ENDPOINT_URL": endpoint.url,
        contract.ENV_DATABASE_URL: database_url,
        contract.ENV_COMPLIANCE_DIR: str(SMALL_KB),
        contract.ENV_MARKETPLACE_PRODUCT_CODE: PRODUCT_CODE,
        contract.ENV_PORT: str(free_port()),
        contract.ENV_DB_WAIT_TIMEOUT: "10",
    }


@pytest.mark.parametrize(
    "answer", [NOT_ENTITLED, NOT_SUPPORTED], ids=["not-entitled", "platform-not-supported"]
)
def test_service_start_exits_77_with_aws_reason(
    database_url: str, endpoint: RegisterUsageEndpoint, answer: tuple[int, dict[str, Any]]
) -> None:
    endpoint.script = [answer]
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=_service_env(database_url, endpoint),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == contract.EXIT_NOPERM, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert answer[1]["__type"] in output
    assert answer[1]["message"] in output
    assert "Traceback" not in output
    assert len(endpoint.requests) == 1


def test_licence_status_is_a_plain_record() -> None:
    """What /health shows is built from these fields only; no token field exists."""
    assert set(LicenceStatus.__dataclass_fields__) == {
        "licensing",
        "product_code",
        "region",
        "attempts",
        "checked_at",
    }
