"""The External Secrets keys the chart passes to the service (point 10), and the IAM
policy the README gives for them.

With `followRotation` the chart hands `database.key` and `appSecret.key` to the service
as DB_SECRET_ARN / APP_SECRET_ARN, unchecked by the templates: the values schema holds
them to the service's own rule (service/config.py SECRET_ID). These tests prove, with
Helm's real schema validator (Go's regexp, not Python's), that the schema accepts exactly
what the service accepts, and with IAM's wildcard rules that the README's policy grants
the default keys' secrets and nothing beside them.
"""

from __future__ import annotations

import fnmatch
import json
import re

import helm_python
import pytest

from service.config import SECRET_ARN, SECRET_ID, SECRET_ID_EXPECTED, ConfigError, load_settings
from tests.helm.chart import CHART_DIR, DB_HOST, merge, values_file

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
EXTERNAL = SCHEMA["properties"]["secrets"]["properties"]["externalSecret"]["properties"]

KEYS = [
    "cloud-optimizer/database",
    "rds!db-0f3c1e2a-9b7d-4c55-8e21-6a0b4f9d7c11",
    "a/b_c+d=e.f@g-h",
    "x" * 512,
    "arn:aws:secretsmanager:us-east-1:111122223333:secret:co/database-AbCdEf",
    "arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:rds!cluster-1-AbCdEf",
    # Refused by both:
    "x" * 513,
    "cloud optimizer/database",
    "co/db\ttab",
    "co/dé",
    "co:db",
    "arn:aws:ssm:us-east-1:111122223333:parameter/co",
    "arn:aws:secretsmanager:us-east-1:1111:secret:co/db",
    "arn:aws:secretsmanager:us-east-1:111122223333:secret:",
    "ok\nco/db",
]


def test_the_schema_carries_the_services_patterns() -> None:
    for field in ("database", "appSecret"):
        assert EXTERNAL[field]["properties"]["key"]["pattern"] == SECRET_ID.pattern
    assert SCHEMA["definitions"]["secretArn"]["pattern"] == f"^({SECRET_ARN.pattern[1:-1]})?$"


DB_SETTINGS = {"DB_HOST": "db", "AWS_REGION": "us-east-1"}


def service_accepts(key: str) -> bool:
    try:
        load_settings({**DB_SETTINGS, "DB_SECRET_ARN": key, "APP_SECRET_ARN": key})
    except ConfigError as error:
        problems = error.problems
    else:
        return True
    assert all(SECRET_ID_EXPECTED in p for p in problems), problems
    return False


def helm_accepts(chart: helm_python.Chart, key: str) -> bool:
    values = merge(
        merge(values_file("values.yaml"), DB_HOST),
        {"secrets": {"externalSecret": {"database": {"key": key}, "appSecret": {"key": key}}}},
    )
    try:
        chart.validate_schema(values)
    except helm_python.HelmValuesError as error:
        message = str(error)
    else:
        return True
    assert "/secrets/externalSecret/database/key" in message
    return False


@pytest.fixture(scope="module")
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART_DIR)


@pytest.mark.parametrize("key", KEYS, ids=lambda k: re.sub(r"\W", "_", k[:40]) or "empty")
def test_helm_accepts_a_key_exactly_when_the_service_does(
    chart: helm_python.Chart, key: str
) -> None:
    assert helm_accepts(chart, key) == service_accepts(key)


def test_helm_refuses_an_empty_key_which_the_service_would_read_as_unset(
    chart: helm_python.Chart,
) -> None:
    assert not helm_accepts(chart, "")


# --- The README's IAM policy for the pods' role ------------------------------------------

README = (CHART_DIR / "README.md").read_text()
REGION, ACCOUNT = "us-east-1", "111122223333"


def readme_policy() -> list[dict[str, object]]:
    block = README.split("<!-- iam-policy:start -->", 1)[1].split("<!-- iam-policy:end -->")[0]
    text = block.split("```json", 1)[1].split("```", 1)[0]
    text = text.replace("REGION", REGION).replace("ACCOUNT", ACCOUNT)
    statements: list[dict[str, object]] = json.loads(text)["Statement"]
    return statements


def secret_arn(name: str, suffix: str = "AbCdEf") -> str:
    """A secret's ARN as Secrets Manager makes it: the name, "-" and six characters."""
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-{suffix}"


def allowed(statements: list[dict[str, object]], action: str, resource: str) -> bool:
    """IAM's verdict for a policy of Allow statements. Not moto's evaluator
    (tests/templates/iam.py): it turns a resource's "?" into a regex quantifier and fails on
    "??????". IAM's wildcards in a Resource ARN are "*" (any run) and "?" (one character),
    case-sensitive
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html)."""

    def like(pattern: str, value: str) -> bool:
        return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))

    def listed(entry: object) -> list[str]:
        return [str(e) for e in entry] if isinstance(entry, list) else [str(entry)]

    assert all(s["Effect"] == "Allow" for s in statements)
    return any(
        any(like(a, action) for a in listed(s["Action"]))
        and any(like(r, resource) for r in listed(s["Resource"]))
        for s in statements
    )


GET = "secretsmanager:GetSecretValue"


def test_the_readme_policy_grants_the_default_keys_secrets() -> None:
    defaults = values_file("values.yaml")["secrets"]["externalSecret"]
    statements = readme_policy()
    for name in (defaults["database"]["key"], defaults["appSecret"]["key"]):
        assert allowed(statements, GET, secret_arn(name)), name
        assert allowed(statements, GET, secret_arn(name, "Zz09xY")), name


@pytest.mark.parametrize(
    "resource",
    [
        secret_arn("cloud-optimizer/database-old"),  # a name that merely starts the same
        secret_arn("cloud-optimizer/databases"),
        secret_arn("cloud-optimizer/other"),
        secret_arn("cloud-optimizer/database", "AbCdEfG"),
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:cloud-optimizer/database-AbCdEf",
    ],
)
def test_the_readme_policy_grants_nothing_beside_them(resource: str) -> None:
    assert not allowed(readme_policy(), GET, resource)


def test_the_readme_policy_allows_reading_only() -> None:
    arn = secret_arn("cloud-optimizer/database")
    for action in ("secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"):
        assert not allowed(readme_policy(), action, arn)
