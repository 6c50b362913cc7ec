"""schemathesis against /openapi.json of a running service (``python -m service``).

The real entrypoint starts on a fresh database with the shipped knowledge base; every
check schemathesis has runs against every route, the writes included, with the API token
(and ``ignored_auth`` checks that a request without it is refused): no 5xx, responses
that match the documented schemas and status codes, schema-valid requests accepted and
schema-invalid ones refused.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import contract
from tests.support.process import API_TOKEN, bare_environment, ready_service

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Every operation schemathesis selects from /openapi.json: the probes, the knowledge-base
# reads, the assessment operations, and the landing page with the operator guide it links
# (9 before those two).
OPERATIONS = 11
START_TIMEOUT = 60.0


@pytest.fixture
def running_service(database_url: str, tmp_path: Path) -> Iterator[str]:
    env = bare_environment(database_url)
    with ready_service(env, tmp_path / "service.log", START_TIMEOUT) as service:
        yield service.url


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
            "--header",
            f"Authorization: Bearer {API_TOKEN}",
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
    assert f"Tested: {OPERATIONS}" in result.stdout, summary
    assert "No issues found" in result.stdout, summary
