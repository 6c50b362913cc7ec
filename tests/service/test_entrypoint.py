"""The entrypoint: aioboto3 only when licensing needs it, and SIGTERM during the startup steps.

Real PostgreSQL, real processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg

from service import contract
from service.migrate import ADVISORY_LOCK_KEY
from tests.support.net import free_port
from tests.support.process import (
    PROJECT_ROOT,
    StartService,
    log_records,
    service_environment,
    wait_for,
)


def test_entrypoint_does_not_import_aioboto3_when_licensing_is_off() -> None:
    probe = textwrap.dedent(
        """
        import asyncio, sys
        import service.entrypoint
        from service.license import check_licence

        class Off:
            marketplace_product_code = None
            aws_region = None

        before = "aioboto3" in sys.modules
        asyncio.run(check_licence(Off()))
        print(before, "aioboto3" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env=service_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"], result.stdout


def test_sigterm_while_waiting_for_the_database_exits_0() -> None:
    env = service_environment(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/co", DB_WAIT_TIMEOUT="120"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=PROJECT_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        for line in proc.stderr:
            lines.append(line)
            if json.loads(line)["message"].startswith("waiting for database"):
                break
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(timeout=10)
        elapsed = time.monotonic() - signalled
        rest, stdout = proc.stderr.read(), proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert exit_code == 0, "".join(lines) + rest
    assert elapsed < 3, f"took {elapsed:.1f}s to stop"
    records = log_records("".join(lines) + rest + stdout)
    assert any(r["message"].startswith("stopped during startup step 3") for r in records), rest
    assert "Traceback" not in rest


def test_sigterm_while_waiting_for_the_migration_lock_exits_0_and_closes_it(
    service_env: dict[str, str], database_url: str, start_service: StartService
) -> None:
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        service = start_service(service_env)
        wait_for(
            lambda: "waiting for the migration lock" in service.logs(), 20, "waiting for the lock"
        )
        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        exit_code = service.wait(timeout=10)
        elapsed = time.monotonic() - signalled
        # The service's connections are gone: only the holder is left in this database.
        others = holder.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert exit_code == 0, service.logs()
    assert elapsed < 3, f"took {elapsed:.1f}s to stop"
    assert others == (0,)
    records = service.records()
    assert any(r["message"].startswith("stopped during startup step 4") for r in records)
    assert not any(r["level"] == "ERROR" for r in records), service.logs()


def test_sigterm_during_a_long_migration_cancels_it_and_exits_0(
    service_env: dict[str, str], database_url: str, tmp_path: Path, start_service: StartService
) -> None:
    (tmp_path / "co").mkdir()
    (tmp_path / "co" / "co-9000-slow.sql").write_text("SELECT pg_sleep(60);\n")
    service = start_service({**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path)})
    wait_for(
        lambda: "applying migration co-9000-slow" in service.logs(), 20, "applying the migration"
    )
    time.sleep(0.3)  # into the statement
    signalled = time.monotonic()
    service.signal(signal.SIGTERM)
    exit_code = service.wait(timeout=10)
    elapsed = time.monotonic() - signalled
    assert exit_code == 0, service.logs()
    assert elapsed < 3, f"took {elapsed:.1f}s: the migration was not cancelled"
    assert any(r["message"].startswith("stopped during startup step 4") for r in service.records())
    with psycopg.connect(database_url) as conn:
        # Rolled back and not recorded, so the next start applies it; no yoyo lock left.
        assert conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM yoyo_lock").fetchone() == (0,)
