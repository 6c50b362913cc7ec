"""Run the real service (``python -m service``) as a subprocess and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from service import contract
from service.config import DEFAULT_MIGRATIONS_DIR
from service.migrate import AUTOMATIC_SETS
from tests.support.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Variables of ours that must not leak from the developer's shell into a test process.
_SERVICE_VARIABLES = [
    value
    for name, value in vars(contract).items()
    if name.startswith("ENV_") and isinstance(value, str)
]


# The application secret test processes get unless a test gives its own (or an ARN): the
# bearer token every /api/ request of theirs carries.
API_TOKEN = "test-api-token-not-a-secret"
AUTH_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


def _with_app_secret(env: dict[str, str]) -> dict[str, str]:
    if contract.ENV_APP_SECRET not in env and contract.ENV_APP_SECRET_ARN not in env:
        env[contract.ENV_APP_SECRET] = API_TOKEN
    return env


def service_environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
    env.update(overrides)
    return _with_app_secret(env)


def bare_environment(database_url: str, **overrides: str) -> dict[str, str]:
    """Nothing of the caller's environment but PATH: the database, no drain delay and a
    5 s graceful stop (plus ``overrides``), as a process on a clean host would see it."""
    return _with_app_secret(
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            contract.ENV_DATABASE_URL: database_url,
            contract.ENV_SHUTDOWN_DELAY: "0",
            contract.ENV_GRACEFUL_TIMEOUT: "5",
            **overrides,
        }
    )


def run_command(
    args: list[str], env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m service ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not {what} after {timeout}s")


def copy_migrations(target: Path) -> None:
    """Copy the shipped automatic migration sets into ``target`` (for ENV_MIGRATIONS_DIR),
    where a test may add migrations of its own."""
    for name in AUTOMATIC_SETS:
        shutil.copytree(DEFAULT_MIGRATIONS_DIR / name, target / name)


def log_records(text: str) -> list[dict[str, Any]]:
    """The JSON log lines in a process's stderr; fails the test on a non-JSON line."""
    records = []
    for line in text.splitlines():
        if line.strip():
            records.append(json.loads(line))
    return records


@dataclass
class ServiceProcess:
    """One running ``python -m service``; its stderr goes to a file the test can read."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="co-service-", suffix=".log")[1])
    )
    root: Path = PROJECT_ROOT  # where ``python -m service`` runs from (a benchmark's other tree)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = {**self.env, contract.ENV_PORT: str(self.port), contract.ENV_HOST: "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service"],
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        return log_records(self.logs())

    @property
    def auth_headers(self) -> dict[str, str]:
        """The bearer token of this process's APP_SECRET (none without one)."""
        secret = self.env.get(contract.ENV_APP_SECRET)
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, timeout: float = 5.0, token: str | None = None) -> httpx.Response:
        """GET with this process's bearer token (or ``token``)."""
        headers = {"Authorization": f"Bearer {token}"} if token else self.auth_headers
        return httpx.get(self.url + path, timeout=timeout, headers=headers)

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if self.get(contract.READY_PATH, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"service not ready after {timeout}s:\n{self.logs()}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """End the process if it still runs (SIGTERM, then SIGKILL)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


StartService = Callable[[dict[str, str]], ServiceProcess]


@contextmanager
def ready_service(
    env: dict[str, str], log_path: Path, ready_within: float = 60.0
) -> Iterator[ServiceProcess]:
    """Start ``python -m service`` (its output to ``log_path``), wait until /ready answers
    200 and stop it (SIGTERM, then SIGKILL) when the block ends."""
    service = ServiceProcess(env, log_path=log_path).start()
    try:
        service.wait_until_ready(ready_within)
        yield service
    finally:
        service.stop()
