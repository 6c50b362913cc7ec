"""The compose stacks read as files (test_compose_stack.py runs them with the real engine).

The files are held to the Compose specification's JSON schema, to the rules compose
applies when it starts them (every ``service_healthy`` dependency has a health check,
every build context and mounted file exists), and to the service's own configuration code:
the environment the stack gives the service must load, and the secret the seed script puts
into the emulator must resolve to the stack's database through service.secrets.

The schema (compose-spec.schema.json beside this file) is the Compose specification's
schema as the npm package dclint 3.1.0 ships it (schemas/compose.schema.json); see
COMPOSE_SCHEMA.md. No network is needed to use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from service import contract
from service.config import load_settings
from service.secrets import resolve_secrets
from tests.container import images
from tests.container.dockerfile import healthcheck_command, parse_dockerfile
from tests.support.aws import FAKE_CREDENTIALS

DOCKER_DIR = images.REPO_ROOT / "docker"
COMPOSE = DOCKER_DIR / "docker-compose.yml"
COMPOSE_TEST = DOCKER_DIR / "docker-compose.test.yml"
SCHEMA = Path(__file__).parent / "compose-spec.schema.json"
SCHEMA_SHA256 = "46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496"
SEED_SCRIPT = DOCKER_DIR / "seed_aws.py"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def validator() -> jsonschema.Draft7Validator:
    raw = SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored schema was edited"
    return jsonschema.Draft7Validator(json.loads(raw))


def merged() -> dict[str, Any]:
    """docker-compose.yml with docker-compose.test.yml on top (services merged by name)."""
    base = load(COMPOSE)
    for name, service in load(COMPOSE_TEST)["services"].items():
        base["services"][name] = {**base["services"].get(name, {}), **service}
    return base


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """Compose's ${VAR:-default} and ${VAR}, against ``env`` (default: nothing set)."""
    env = env or {}
    return INTERPOLATION.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    assert isinstance(raw, dict), "environment is written as a mapping here"
    return {key: interpolate(str(value)) for key, value in raw.items()}


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_TEST], ids=lambda p: p.name)
def test_compose_file_is_valid_against_the_compose_specification(path: Path) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator().iter_errors(load(path))
    ]
    assert errors == []


def test_merged_test_stack_is_valid_against_the_compose_specification() -> None:
    assert list(validator().iter_errors(merged())) == []


def test_schema_rejects_what_compose_rejects() -> None:
    """The schema check has teeth: a misspelt condition and an unknown key both fail."""
    doc = load(COMPOSE)
    doc["services"]["service"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert list(validator().iter_errors(doc))
    doc = load(COMPOSE)
    doc["services"]["redis"]["healthcheck"]["intervall"] = "2s"
    assert list(validator().iter_errors(doc))


def image_has_healthcheck(service: Mapping[str, Any]) -> bool:
    if "healthcheck" in service:
        return not service["healthcheck"].get("disable", False)
    build = service.get("build")
    if not build:
        return False
    dockerfile = DOCKER_DIR / build["context"] / build["dockerfile"]
    return any(i.keyword == "HEALTHCHECK" for i in parse_dockerfile(dockerfile))


def test_every_service_healthy_dependency_has_a_health_check() -> None:
    services = merged()["services"]
    for name, service in services.items():
        for dep, rule in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if rule["condition"] == "service_healthy":
                assert image_has_healthcheck(services[dep]), f"{name} -> {dep}"


def test_service_waits_for_every_dependency_to_be_healthy_or_seeded() -> None:
    depends = load(COMPOSE)["services"]["service"]["depends_on"]
    assert {k: v["condition"] for k, v in depends.items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "aws": "service_healthy",
        "aws-seed": "service_completed_successfully",
    }


def test_third_party_images_are_pinned_by_digest() -> None:
    for name, service in merged()["services"].items():
        if "build" in service:
            continue
        assert re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", service["image"]), name


def test_build_contexts_and_mounted_files_exist() -> None:
    for name, service in merged()["services"].items():
        build = service.get("build")
        if build:
            context = (DOCKER_DIR / build["context"]).resolve()
            assert context == images.REPO_ROOT, name
            assert (context / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DOCKER_DIR / source).exists(), f"{name}: {source}"


def test_service_runs_hardened_with_the_contract_numbers() -> None:
    service = load(COMPOSE)["services"]["service"]
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert service["read_only"] is True
    assert service["tmpfs"] == ["/tmp"]
    assert service["cap_drop"] == ["ALL"]
    assert service["stop_grace_period"] == f"{contract.CONTAINER_STOP_TIMEOUT}s"
    # Published on loopback only; CO_SERVICE_PORT moves the host side, never the container's.
    assert [interpolate(p) for p in service["ports"]] == [
        f"127.0.0.1:{contract.PORT}:{contract.PORT}"
    ]
    moved = [interpolate(p, {"CO_SERVICE_PORT": "18000"}) for p in service["ports"]]
    assert moved == [f"127.0.0.1:18000:{contract.PORT}"]
    assert environment(service)[contract.ENV_PORT] == str(contract.PORT)


def test_service_environment_names_only_variables_the_service_reads() -> None:
    known = {value for name, value in vars(contract).items() if name.startswith("ENV_")}
    # Read by botocore/aioboto3 rather than by service.config.
    sdk = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"}
    for name in ("service", "service-dev"):
        env = environment(load(COMPOSE)["services"][name])
        assert set(env) - known - sdk == set(), name


def test_service_environment_loads_as_the_deployed_secret_path() -> None:
    env = environment(load(COMPOSE)["services"]["service"])
    settings = load_settings(env)
    assert settings.db_secret_arn is not None
    assert settings.db_username is None  # nothing injected: the ARN is the only source
    assert settings.redis_url is not None
    assert settings.port == contract.PORT


def run_seed(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SEED_SCRIPT)],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_seeded_secret_resolves_to_the_stack_database(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed container's job and the service's reading of it, against the emulator."""
    compose = load(COMPOSE)["services"]
    seed_env = {**environment(compose["aws-seed"]), **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": aws}
    first = run_seed(seed_env)
    assert first.returncode == 0, first.stderr
    again = run_seed(seed_env)  # a restarted stack seeds again
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout  # the same secret, a new version

    service_env = {**environment(compose["service"]), "AWS_ENDPOINT_URL": aws}
    for key, value in service_env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(service_env)
    resolver = asyncio.run(resolve_secrets(settings))
    creds = asyncio.run(resolver.database_credentials())
    postgres = environment(compose["postgres"])
    assert creds.host == "postgres"
    assert creds.port == contract.DB_DEFAULT_PORT
    assert creds.dbname == postgres["POSTGRES_DB"]
    assert creds.username == postgres["POSTGRES_USER"]
    assert creds.password == postgres["POSTGRES_PASSWORD"]


def test_seed_script_refuses_missing_inputs() -> None:
    run = run_seed({"SEED_SECRET_NAME": "x"})
    assert run.returncode == 64
    assert "SEED_DB_PASSWORD" in run.stderr


def test_dev_image_health_check_matches_the_product_image() -> None:
    product = healthcheck_command(parse_dockerfile(images.DOCKERFILE))
    dev = healthcheck_command(parse_dockerfile(DOCKER_DIR / "Dockerfile.dev"))
    assert dev == product
