"""schemathesis against /openapi.json of a running service (``python -m service``).

The real entrypoint starts on a fresh database with the shipped knowledge base; every
check schemathesis has runs against the knowledge-base routes: no 5xx, responses that
match the documented schemas and status codes, schema-valid requests accepted and
schema-invalid ones refused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import contract
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
KB_ROUTES = r"^/api/v1/(frameworks|controls)"
START_TIMEOUT = 60.0


def _wait_until_ready(base_url: str, service: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise AssertionError(f"the service exited with {service.returncode} before ready")
        try:
            with urllib.request.urlopen(base_url + contract.READY_PATH, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the service was not ready within {START_TIMEOUT}s")


@pytest.fixture
def running_service(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        contract.ENV_DATABASE_URL: database_url,
        contract.ENV_PORT: str(port),
        contract.ENV_HOST: "127.0.0.1",
        contract.ENV_SHUTDOWN_DELAY: "0",
        contract.ENV_GRACEFUL_TIMEOUT: "5",
    }
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        service = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=log_file, stderr=log_file
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_ready(base_url, service)
            yield base_url
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_or_contract_violation(
    running_service: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{running_service}{contract.OPENAPI_PATH}",
            "--checks",
            "all",
            "--include-path-regex",
            KB_ROUTES,
            "--max-examples",
            "60",
            "--generation-allow-x00",
            "true",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary
    assert "Tested: 4" in result.stdout, summary  # all four knowledge-base operations
    assert "No issues found" in result.stdout, summary
