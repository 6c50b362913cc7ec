"""Secrets read by name as by ARN (moto server), in the region each form says.

The chart's default External Secrets keys are names (cloud-optimizer/database), so the
service must follow a rotation through a name just as through an ARN. Secrets Manager
keeps a secret in one region, and the emulator does too: a secret created in us-east-1 is
not found from eu-west-1. A name is read in the configured region; an ARN in the region
it names, whatever AWS_REGION says.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from localstack_client.session import Session

from service.config import load_settings
from service.secrets import SecretError, SecretResolver, resolve_secrets
from tests.support.aws import REGION, emulator_session

OTHER_REGION = "eu-west-1"


def create_secret(endpoint: str, name: str, value: object) -> str:
    client = emulator_session(endpoint, REGION).client("secretsmanager")
    text = value if isinstance(value, str) else json.dumps(value)
    arn: str = client.create_secret(Name=name, SecretString=text)["ARN"]
    return arn


def put_secret(endpoint: str, secret_id: str, value: object) -> None:
    client = emulator_session(endpoint, REGION).client("secretsmanager")
    client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))


def test_injected_password_then_the_named_secret_after_a_rotation(aws: str) -> None:
    """The chart's default: ESO's synced copy first, the name when the database refuses it."""
    create_secret(aws, "cloud-optimizer/database", {"username": "app", "password": "before"})
    settings = load_settings(
        {
            "DB_HOST": "db.internal",
            "DB_USERNAME": "app",
            "DB_PASSWORD": "before",
            "DB_SECRET_ARN": "cloud-optimizer/database",
            "AWS_REGION": REGION,
        }
    )
    resolver = SecretResolver(settings)

    async def scenario() -> list[str | None]:
        await resolve_secrets(settings)  # step 2 proves the name is readable
        first = (await resolver.database_credentials()).password
        put_secret(aws, "cloud-optimizer/database", {"username": "app", "password": "after"})
        refreshed = await resolver.refresh()
        return [first, refreshed.password, (await resolver.database_credentials()).password]

    assert asyncio.run(scenario()) == ["before", "after", "after"]
    assert resolver.fetch_count == 1


def test_rds_managed_secret_by_its_name(aws: str) -> None:
    create_secret(aws, "rds!db-0f3c1e2a", {"username": "app", "password": "pw1"})
    settings = load_settings(
        {"DB_HOST": "db.internal", "DB_SECRET_ARN": "rds!db-0f3c1e2a", "AWS_REGION": REGION}
    )
    credentials = asyncio.run(SecretResolver(settings).database_credentials())
    assert (credentials.host, credentials.username, credentials.password) == (
        "db.internal",
        "app",
        "pw1",
    )


def test_app_secret_by_name_is_reread_after_a_rotation(aws: str, aws_clients: Session) -> None:
    create_secret(aws, "cloud-optimizer/app-secret", "token-one")
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://h/db",
            "APP_SECRET_ARN": "cloud-optimizer/app-secret",
            "AWS_REGION": REGION,
        }
    )
    resolver = SecretResolver(settings)

    async def scenario() -> list[str | None]:
        first = await resolver.app_secret()
        client = aws_clients.client("secretsmanager")
        client.put_secret_value(SecretId="cloud-optimizer/app-secret", SecretString="token-two")
        return [first, await resolver.reread_app_secret()]

    assert asyncio.run(scenario()) == ["token-one", "token-two"]


def test_a_name_is_read_in_the_configured_region(aws: str) -> None:
    """Proof that the region matters: the same name from another region is not found."""
    create_secret(aws, "co/regional", {"username": "app", "password": "pw"})
    settings = load_settings(
        {"DB_HOST": "h", "DB_SECRET_ARN": "co/regional", "AWS_REGION": OTHER_REGION}
    )
    with pytest.raises(SecretError, match="co/regional could not be read: ResourceNotFound"):
        asyncio.run(SecretResolver(settings).database_credentials())


def test_an_arn_is_read_in_its_own_region_whatever_aws_region_says(aws: str) -> None:
    arn = create_secret(aws, "co/elsewhere", {"username": "app", "password": "pw"})
    assert f":{REGION}:" in arn
    settings = load_settings({"DB_HOST": "h", "DB_SECRET_ARN": arn, "AWS_REGION": OTHER_REGION})
    assert asyncio.run(SecretResolver(settings).database_credentials()).password == "pw"


def test_an_arn_is_read_with_no_region_configured_at_all(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = create_secret(aws, "co/no-region", {"username": "app", "password": "pw"})
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    settings = load_settings({"DB_HOST": "h", "DB_SECRET_ARN": arn})
    assert asyncio.run(SecretResolver(settings).database_credentials()).password == "pw"


def test_a_missing_name_is_named_with_the_error_code(aws: str) -> None:
    settings = load_settings({"DB_HOST": "h", "DB_SECRET_ARN": "co/absent", "AWS_REGION": REGION})
    with pytest.raises(SecretError) as caught:
        asyncio.run(resolve_secrets(settings))
    assert str(caught.value) == "secret co/absent could not be read: ResourceNotFoundException"
