"""The subcommands and the startup steps' exit codes, on the real process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg

from service import contract
from service.config import DEFAULT_COMPLIANCE_DIR
from service.credentials import DatabaseCredentials
from service.migrate import applied_migration_ids
from tests.support.net import TEST_REDIS_URL, free_port
from tests.support.process import (
    StartService,
    copy_migrations,
    log_records,
    run_command,
    service_environment,
)


def errors(stderr: str) -> list[str]:
    return [r["message"] for r in log_records(stderr) if r["level"] == "ERROR"]


def broken_copy_of_the_knowledge_base(tmp_path: Path) -> Path:
    target = tmp_path / "compliance"
    shutil.copytree(DEFAULT_COMPLIANCE_DIR, target)
    path = sorted((target / "frameworks").glob("*.json"))[0]
    document = json.loads(path.read_text())
    document["controls"][0]["severity"] = "apocalyptic"
    path.write_text(json.dumps(document))
    return target


def test_check_passes_when_every_dependency_answers(service_env: dict[str, str]) -> None:
    env = {**service_env, contract.ENV_REDIS_URL: TEST_REDIS_URL}
    result = run_command(["check"], env)
    assert result.returncode == 0, result.stderr
    messages = [r["message"] for r in log_records(result.stderr)]
    assert "check: redis answers" in messages
    assert "check: all dependencies answer" in messages
    assert any(m.endswith("migration(s) pending") for m in messages)
    assert run_command(["migrate"], env).returncode == 0
    again = [r["message"] for r in log_records(run_command(["check"], env).stderr)]
    assert "check: migrations at head" in again


def test_check_fails_when_redis_does_not_answer(service_env: dict[str, str]) -> None:
    env = {**service_env, contract.ENV_REDIS_URL: f"redis://127.0.0.1:{free_port()}/0"}
    result = run_command(["check"], env)
    assert result.returncode == contract.EXIT_UNAVAILABLE
    assert any(m.startswith("redis did not answer") for m in errors(result.stderr))


def test_check_fails_when_the_database_does_not_answer() -> None:
    env = service_environment(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    result = run_command(["check"], env)
    assert result.returncode == contract.EXIT_UNAVAILABLE
    assert any("did not answer" in m for m in errors(result.stderr))


def test_migrate_applies_and_exits(service_env: dict[str, str], database_url: str) -> None:
    result = run_command(["migrate"], service_env)
    assert result.returncode == 0, result.stderr
    url = DatabaseCredentials.from_url(database_url)
    assert applied_migration_ids(url)


def test_contract_set_runs_only_when_asked(
    service_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    copy_migrations(tmp_path)
    (tmp_path / "co" / "co-9100-add-title.sql").write_text(
        "ALTER TABLE co.assessment ADD COLUMN IF NOT EXISTS title text;\n"
        "UPDATE co.assessment SET title = name WHERE title IS NULL;\n"
    )
    (tmp_path / "co" / "co-9100-add-title.rollback.sql").write_text(
        "ALTER TABLE co.assessment DROP COLUMN IF EXISTS title;\n"
    )
    (tmp_path / "contract").mkdir()
    (tmp_path / "contract" / "contract-9101-drop-name.sql").write_text(
        "ALTER TABLE co.assessment DROP COLUMN IF EXISTS name;\n"
    )
    (tmp_path / "contract" / "contract-9101-drop-name.rollback.sql").write_text(
        "ALTER TABLE co.assessment ADD COLUMN IF NOT EXISTS name text;\n"
        "UPDATE co.assessment SET name = title WHERE name IS NULL;\n"
    )
    env = {**service_env, contract.ENV_MIGRATIONS_DIR: str(tmp_path)}
    assert run_command(["migrate"], env).returncode == 0
    url = DatabaseCredentials.from_url(database_url)
    assert "contract-9101-drop-name" not in applied_migration_ids(url)
    result = run_command(["migrate", "--contract"], env)
    assert result.returncode == 0, result.stderr
    assert "contract-9101-drop-name" in applied_migration_ids(url)
    with psycopg.connect(database_url) as conn:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'co' AND table_name = 'assessment'"
            ).fetchall()
        }
    assert "name" not in columns
    assert "title" in columns
    back = run_command(["rollback", "--to", "co-9100-add-title"], env)
    assert back.returncode == 0, back.stderr
    assert "contract-9101-drop-name" not in applied_migration_ids(url)


def test_start_without_migrations_and_auto_migrate_off_exits_70(
    service_env: dict[str, str],
) -> None:
    env = {**service_env, contract.ENV_AUTO_MIGRATE: "false"}
    result = run_command([], env)
    assert result.returncode == contract.EXIT_SOFTWARE
    (message,) = errors(result.stderr)
    assert message.startswith("IB:")
    assert "migrations/ib" in message


def test_invalid_knowledge_base_on_first_start_exits_65(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **service_env,
        contract.ENV_COMPLIANCE_DIR: str(broken_copy_of_the_knowledge_base(tmp_path)),
    }
    result = run_command([], env)
    assert result.returncode == contract.EXIT_DATA
    (message,) = errors(result.stderr)
    assert message.startswith("knowledge base:")
    assert "apocalyptic" in message or "severity" in message
    assert "Traceback" not in result.stderr


def test_invalid_knowledge_base_after_a_good_one_keeps_serving_the_previous(
    service_env: dict[str, str], start_service: StartService, tmp_path: Path
) -> None:
    run = start_service(service_env)
    run.wait_until_ready()
    run.stop()
    broken = broken_copy_of_the_knowledge_base(tmp_path)
    service = start_service({**service_env, contract.ENV_COMPLIANCE_DIR: str(broken)})
    service.wait_until_ready()
    (message,) = [r for r in service.records() if r["level"] == "ERROR"]
    assert "keeping version" in message["message"]
    assert any(str(broken) in p or "frameworks" in p for p in message["problems"])
    frameworks = service.get("/api/v1/frameworks").json()
    assert frameworks["total"] >= 1


def test_licence_refusal_exits_77(service_env: dict[str, str]) -> None:
    # A region (without one, step 1 refuses the configuration with 78) and no AWS credentials
    # anywhere: RegisterUsage cannot be called, which botocore does not retry (a refused
    # connection it would, for half a minute; tests/service/test_license.py covers that).
    env = {
        **service_env,
        contract.ENV_MARKETPLACE_PRODUCT_CODE: "prod-code-123",
        contract.ENV_AWS_REGION: "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = run_command([], env)
    assert result.returncode == contract.EXIT_NOPERM
    (message,) = errors(result.stderr)
    assert message.startswith("licence:")


def test_auto_migrate_off_serves_once_a_migrate_job_has_run(
    service_env: dict[str, str], start_service: StartService
) -> None:
    assert run_command(["migrate"], service_env).returncode == 0
    service = start_service({**service_env, contract.ENV_AUTO_MIGRATE: "false"})
    service.wait_until_ready()
    assert not any(r["message"].startswith("migrations at head") for r in service.records())
