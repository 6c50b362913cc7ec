"""DB_SECRET_ARN and APP_SECRET_ARN take a secret's ARN or its name, and nothing else.

GetSecretValue's SecretId is "the ARN or name of the secret"; a name is 1-512 letters,
digits and /_+=.@- (CreateSecret), plus the "!" of the secrets AWS services manage
(RDS's rds!db-...). A name names no region, so one must be configured; an ARN names its
own. Anything else is refused at step 1 with the one-line configuration error (exit 78).
"""

from __future__ import annotations

import pytest

from service import contract
from service.config import SECRET_ID, ConfigError, load_settings, secret_arn_region
from tests.support.process import log_records, run_command, service_environment

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:co/db-AbCdEf"
REGION = {"AWS_REGION": "us-east-1"}
DB = {"DB_HOST": "db.internal", "DB_USERNAME": "app", "DB_PASSWORD": "pw"}


def problems_for(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value.problems


VALID = [
    pytest.param("cloud-optimizer/database", id="the-chart-default-name"),
    pytest.param("rds!db-0f3c1e2a-9b7d-4c55-8e21-6a0b4f9d7c11", id="rds-managed-name"),
    pytest.param("a/b_c+d=e.f@g-h", id="every-punctuation-allowed"),
    pytest.param("x" * 512, id="512-characters"),
    pytest.param(ARN, id="arn"),
    pytest.param("arn:aws:secretsmanager:eu-west-1:123456789012:secret:co/db", id="partial-arn"),
    pytest.param(
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:rds!db-1-AbCdEf", id="aws-cn"
    ),
]


@pytest.mark.parametrize("secret_id", VALID)
@pytest.mark.parametrize("variable", [contract.ENV_DB_SECRET_ARN, contract.ENV_APP_SECRET_ARN])
def test_an_arn_or_a_name_is_accepted(variable: str, secret_id: str) -> None:
    settings = load_settings({**DB, **REGION, variable: secret_id})
    read = (
        settings.db_secret_arn
        if variable == contract.ENV_DB_SECRET_ARN
        else settings.app_secret_arn
    )
    assert read == secret_id


INVALID = [
    pytest.param("co/db\x00x", id="nul"),
    pytest.param("co db", id="inner-space"),
    pytest.param("co/db\nother", id="inner-newline"),
    pytest.param("x" * 513, id="513-characters"),
    pytest.param("co/\ud800", id="lone-surrogate"),
    pytest.param("co/dé", id="non-ascii"),
    pytest.param("co:db", id="colon-outside-an-arn"),
    pytest.param("arn:aws:s3:::bucket/key", id="arn-of-another-service"),
    pytest.param("arn:aws:secretsmanager:us-east-1:1234:secret:co/db", id="short-account"),
    pytest.param("arn:aws:secretsmanager:us-east-1:123456789012:secret:", id="arn-without-name"),
    pytest.param("arn:aws:secretsmanager:us-east-1:123456789012:secret:co db", id="arn-with-space"),
]


@pytest.mark.parametrize("secret_id", INVALID)
@pytest.mark.parametrize("variable", [contract.ENV_DB_SECRET_ARN, contract.ENV_APP_SECRET_ARN])
def test_anything_else_is_one_problem_naming_the_variable(variable: str, secret_id: str) -> None:
    problems = problems_for({**DB, **REGION, variable: secret_id})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{variable}="), problems
    assert "expected a Secrets Manager secret ARN, or a name of 1-512" in problems[0]
    assert "\n" not in problems[0]


def test_surrounding_spaces_are_trimmed_like_every_variable() -> None:
    assert load_settings({**DB, **REGION, "DB_SECRET_ARN": " co/db "}).db_secret_arn == "co/db"


def test_a_name_without_a_region_is_a_configuration_error() -> None:
    problems = problems_for({**DB, "DB_SECRET_ARN": "co/db", "APP_SECRET_ARN": "co/app"})
    assert problems == [
        "AWS_REGION=missing: expected a region when DB_SECRET_ARN is a secret name, not an ARN "
        "and APP_SECRET_ARN is a secret name, not an ARN (ECS and EKS set it; give it elsewhere)"
    ]


@pytest.mark.parametrize(
    "region", [{"AWS_REGION": "eu-west-1"}, {"AWS_DEFAULT_REGION": "eu-west-1"}]
)
def test_a_name_with_a_region_is_enough(region: dict[str, str]) -> None:
    assert load_settings({**DB, **region, "DB_SECRET_ARN": "co/db"}).db_secret_arn == "co/db"


def test_an_arn_needs_no_configured_region_it_names_its_own() -> None:
    settings = load_settings({**DB, "DB_SECRET_ARN": ARN, "APP_SECRET_ARN": ARN})
    assert settings.aws_region is None
    assert secret_arn_region(ARN) == "eu-west-1"
    assert secret_arn_region("co/db") is None


def test_a_missing_region_for_metering_and_for_a_name_is_one_problem() -> None:
    problems = problems_for({**DB, "DB_SECRET_ARN": "co/db", "MARKETPLACE_PRODUCT_CODE": "abc123"})
    assert len(problems) == 1, problems
    assert "DB_SECRET_ARN is a secret name" in problems[0]
    assert "MARKETPLACE_PRODUCT_CODE is set" in problems[0]


def test_the_pattern_is_anchored_for_other_regex_engines_too() -> None:
    """The chart's schema uses SECRET_ID with Go's RE2, where `search` semantics apply:
    each alternative carries its own anchors."""
    assert SECRET_ID.search("ok co/db") is None
    assert SECRET_ID.search(f"x{ARN}") is None
    for alternative in SECRET_ID.pattern.split("|"):
        assert alternative.startswith("^")
        assert alternative.endswith("$")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DB_SECRET_ARN": "co/db"}, "AWS_REGION=missing"),
        ({"DB_SECRET_ARN": "co db", "AWS_REGION": "us-east-1"}, "DB_SECRET_ARN='co db'"),
        ({"DB_SECRET_ARN": "y" * 513, "AWS_REGION": "us-east-1"}, "DB_SECRET_ARN='yyy"),
    ],
    ids=["name-without-region", "space", "513-characters"],
)
def test_the_service_exits_78_with_one_line_before_any_aws_call(
    env: dict[str, str], named: str
) -> None:
    environment = service_environment(DB_HOST="127.0.0.1", **env)
    environment.pop("AWS_DEFAULT_REGION", None)  # AWS_REGION is ours: dropped unless given
    result = run_command([], environment, timeout=30)
    assert result.returncode == contract.EXIT_CONFIG, result.stderr
    errors = [r for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert len(errors) == 1, result.stderr
    assert named in errors[0]["message"]
    assert "Traceback" not in result.stderr


def test_injected_credentials_beside_a_secret_still_need_db_host() -> None:
    """The chart's defaults without database.host: the pods name DB_HOST at step 1."""
    problems = problems_for(
        {**REGION, "DB_USERNAME": "app", "DB_PASSWORD": "pw", "DB_SECRET_ARN": "co/db"}
    )
    assert problems == [
        "DB_HOST=missing: expected the database host when DB_USERNAME/DB_PASSWORD are "
        "injected beside DB_SECRET_ARN"
    ]
