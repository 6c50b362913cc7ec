"""Where credentials come from, per secrets.source, and how each follows a rotation.

Point 10: with the default externalSecret source, the pods read the password from env
vars the operator fills. With `followRotation` (on by default) the pods also get the key,
an ARN or a name as the defaults are, as DB_SECRET_ARN: the service uses the injected copy
first and, when the database refuses it after a rotation, re-reads the secret itself
(service/secrets.py, the "injected-and-arn" delivery that tests/ops/test_secret_rotation.py
proves under load). These tests prove the chart gives the service that path with its
default values; tests/helm/test_pods.py runs it for real in a pod.
"""

from __future__ import annotations

from typing import Any

import pytest

from service import contract
from service.config import ConfigError
from tests.helm.chart import (
    APP_SECRET_ARN,
    DB_HOST,
    DB_SECRET_ARN,
    EXISTING_SECRET,
    FULLNAME,
    SCENARIOS,
    Manifest,
    container,
    env_map,
    merge,
    only,
    render,
    render_raw,
    render_scenario,
    service_settings,
    values_file,
)

ARN_KEYS = {
    "secrets": {
        "externalSecret": {
            "database": {"key": DB_SECRET_ARN},
            "appSecret": {"key": APP_SECRET_ARN},
        }
    }
}


def notes(values: dict[str, Any]) -> str:
    return render_raw(values)["cloud-optimizer/templates/NOTES.txt"]


def test_external_secret_is_the_default_one_per_secret() -> None:
    manifests = render_scenario("default")
    ordinary = [m for m in manifests if m.kind == "ExternalSecret" and not m.hook_events]
    assert sorted(m.name for m in ordinary) == [f"{FULLNAME}-app", f"{FULLNAME}-database"]
    assert "Secret" not in {m.kind for m in manifests}
    for manifest in ordinary:
        assert manifest.body["spec"]["secretStoreRef"] == {
            "kind": "ClusterSecretStore",
            "name": "aws-secrets-manager",
        }


def pod_env(manifests: list[Manifest], kind: str = "Deployment") -> dict[str, str]:
    """The plain values a container of this kind gets: its ConfigMap, then its own env."""
    manifest = only(manifests, kind)
    values = dict(only(manifests, "ConfigMap").body["data"]) if kind == "Deployment" else {}
    values |= {e["name"]: e["value"] for e in container(manifest).get("env", []) if "value" in e}
    return values


def test_external_secret_with_arn_keys_gives_the_pods_the_rotation_path() -> None:
    manifests = render(merge(DB_HOST, ARN_KEYS))
    data = pod_env(manifests)
    assert data[contract.ENV_DB_SECRET_ARN] == DB_SECRET_ARN
    assert data[contract.ENV_APP_SECRET_ARN] == APP_SECRET_ARN
    env = env_map(only(manifests, "Deployment"))
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{FULLNAME}-database"
    assert pod_env(manifests, "Job")[contract.ENV_DB_SECRET_ARN] == DB_SECRET_ARN
    # An ARN is no secret, but it stays out of the ConfigMap, where scanners look for secrets.
    assert contract.ENV_DB_SECRET_ARN not in only(manifests, "ConfigMap").body["data"]
    # The service accepts the combination: injected values first, the ARN on rejection.
    settings = service_settings(
        {**data, "DB_USERNAME": "app", "DB_PASSWORD": "synced", "APP_SECRET": "t"}
    )
    assert settings.db_secret_arn == DB_SECRET_ARN
    assert settings.db_username == "app"


def test_default_values_follow_rotation_with_their_name_keys() -> None:
    """The default keys are names: the pods get them, and the service takes them."""
    defaults = values_file("values.yaml")["secrets"]["externalSecret"]
    manifests = render(DB_HOST)
    data = pod_env(manifests)
    assert data[contract.ENV_DB_SECRET_ARN] == defaults["database"]["key"]
    assert data[contract.ENV_APP_SECRET_ARN] == defaults["appSecret"]["key"]
    assert ":" not in defaults["database"]["key"]  # a name, not an ARN
    assert pod_env(manifests, "Job")[contract.ENV_DB_SECRET_ARN] == defaults["database"]["key"]
    env = {**data, "DB_USERNAME": "app", "DB_PASSWORD": "synced", "APP_SECRET": "t"}
    # EKS injects AWS_REGION with IRSA and Pod Identity; a name needs it.
    settings = service_settings({**env, "AWS_REGION": "us-east-1"})
    assert settings.db_secret_arn == defaults["database"]["key"]
    assert settings.app_secret_arn == defaults["appSecret"]["key"]
    with pytest.raises(ConfigError, match="AWS_REGION=missing"):
        service_settings(env)
    text = notes(DB_HOST)
    assert "reaches the pods only when they restart" not in text
    assert "WARNING" not in text.split("API token")[0].split("Secrets:")[1]
    assert "secretsmanager:GetSecretValue" in text
    assert f"{defaults['appSecret']['key']}, {defaults['database']['key']}" in text


def test_production_values_follow_rotation() -> None:
    data = pod_env(render_scenario("prod"))
    prod = values_file("values-prod.yaml")["secrets"]["externalSecret"]
    assert data[contract.ENV_DB_SECRET_ARN] == prod["database"]["key"]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"secrets": {"externalSecret": {"followRotation": False}}}, "followRotation is off"),
        (
            {"secrets": {"externalSecret": {"database": {"usernameProperty": "user"}}}},
            'reads\na database secret\'s "username" and "password" itself',
        ),
        (
            {"secrets": {"externalSecret": {"database": {"passwordProperty": "pw"}}}},
            "usernameProperty/passwordProperty\nname others",
        ),
    ],
    ids=["followRotation-off", "other-username-property", "other-password-property"],
)
@pytest.mark.parametrize("keys", [{}, ARN_KEYS], ids=["name-keys", "arn-keys"])
def test_when_the_service_cannot_follow_the_pods_get_no_key_and_notes_say_why(
    overrides: dict[str, Any], reason: str, keys: dict[str, Any]
) -> None:
    """A database secret read through other properties than the service reads would make
    its re-read fail after a rotation: the operator's copy and a restart are the way."""
    values = merge(merge(DB_HOST, keys), overrides)
    assert contract.ENV_DB_SECRET_ARN not in pod_env(render(values))
    text = notes(values)
    assert "reaches the pods only when they restart" in text
    assert reason in text
    assert "reaches the pods only when they restart" not in notes(merge(DB_HOST, keys))


@pytest.mark.parametrize("keys", [{}, ARN_KEYS], ids=["name-keys", "arn-keys"])
def test_an_app_secret_read_by_property_is_not_passed_to_the_service(
    keys: dict[str, Any],
) -> None:
    """The service takes a JSON app secret only with a single key; a property means more.
    The database secret still follows rotation."""
    values = merge(
        merge(DB_HOST, keys),
        {"secrets": {"externalSecret": {"appSecret": {"property": "token"}}}},
    )
    data = pod_env(render(values))
    assert contract.ENV_APP_SECRET_ARN not in data
    assert contract.ENV_DB_SECRET_ARN in data


def test_refresh_interval_zero_and_refresh_policy_reach_the_external_secrets() -> None:
    values = merge(
        DB_HOST,
        {"secrets": {"externalSecret": {"refreshInterval": "0", "refreshPolicy": "OnChange"}}},
    )
    for manifest in render(values):
        if manifest.kind == "ExternalSecret":
            assert manifest.body["spec"]["refreshInterval"] == "0", manifest.key
            assert manifest.body["spec"]["refreshPolicy"] == "OnChange", manifest.key


def test_existing_secret_is_referenced_and_nothing_secret_is_rendered() -> None:
    manifests = render_scenario("existing-secret")
    assert "ExternalSecret" not in {m.kind for m in manifests}
    assert "Secret" not in {m.kind for m in manifests}
    for manifest in (only(manifests, "Deployment"), only(manifests, "Job")):
        env = env_map(manifest)
        for name in ("DB_USERNAME", "DB_PASSWORD"):
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == EXISTING_SECRET
    env = env_map(only(manifests, "Deployment"))
    assert env["APP_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": EXISTING_SECRET,
        "key": "APP_SECRET",
    }


def test_dev_secrets_come_from_set_values_into_a_chart_secret() -> None:
    manifests = render_scenario("dev")
    names = sorted(m.name for m in manifests if m.kind == "Secret" and not m.hook_events)
    assert names == [f"{FULLNAME}-app", f"{FULLNAME}-database"]
    assert "ExternalSecret" not in {m.kind for m in manifests}


def test_secrets_manager_source_puts_only_arns_in_the_pod() -> None:
    manifests = render_scenario("secrets-manager")
    assert not {"Secret", "ExternalSecret"} & {m.kind for m in manifests}
    env = container(only(manifests, "Deployment"))["env"]
    assert env == [
        {"name": "APP_SECRET_ARN", "value": APP_SECRET_ARN},
        {"name": "DB_SECRET_ARN", "value": DB_SECRET_ARN},
    ]
    assert "DB_HOST" not in only(manifests, "ConfigMap").body["data"]  # the secret names it
    assert pod_env(manifests, "Job")["DB_SECRET_ARN"] == DB_SECRET_ARN
    account = only(manifests, "ServiceAccount", FULLNAME)
    assert account.annotations["eks.amazonaws.com/role-arn"] == "arn:aws:iam::111122223333:role/co"


# --- The API token in NOTES (issue 12) --------------------------------------------------


def kubectl_get(secret: str) -> str:
    jsonpath = "{.data.APP_SECRET}"
    return f"kubectl -n cloud-optimizer get secret {secret} -o jsonpath='{jsonpath}' | base64 -d"


def aws_get(secret_id: str) -> str:
    return f"aws secretsmanager get-secret-value --secret-id {secret_id} --query SecretString"


@pytest.mark.parametrize(
    ("scenario", "commands"),
    [
        ("default", [aws_get("cloud-optimizer/app-secret"), kubectl_get(f"{FULLNAME}-app")]),
        ("existing-secret", [kubectl_get(EXISTING_SECRET)]),
        ("secrets-manager", [aws_get(APP_SECRET_ARN)]),
        ("dev", [kubectl_get(f"{FULLNAME}-app")]),
    ],
)
def test_notes_say_how_to_fetch_the_api_token(scenario: str, commands: list[str]) -> None:
    text = notes(SCENARIOS[scenario].values())
    assert 'curl -H "Authorization: Bearer $TOKEN"' in text
    for command in commands:
        assert command in text, command
