"""Every region we claim: the templates lint there and every default exists there.

Region facts come from cfn-lint's bundled regional data (the CloudFormation resource
schemas per region and the RDS instance classes each region offers per engine), never
from a list kept by hand beside the code.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import build_templates
from templates_src import regions
from templates_src.params import DB_INSTANCE_CLASSES
from templates_src.profile import PROFILES
from templates_src.rds import ENGINE_MAJOR_VERSION

ROOT = Path(__file__).resolve().parents[2]
RDS_DATA = resources.files("cfnlint.data.schemas.extensions.aws_rds_dbinstance")


def _rds(name: str) -> Any:
    return json.loads(RDS_DATA.joinpath(name).read_text())


def postgres_classes(region: str) -> set[str]:
    """The PostgreSQL instance classes cfn-lint's data says this region offers."""
    for case in _rds("dbinstanceclass_enum.json")[region]["allOf"]:
        when = case["if"]["properties"]
        if when.get("Engine", {}).get("const") == "postgres" and when.get("LicenseModel") is False:
            return set(case["then"]["properties"]["DBInstanceClass"]["enum"])
    raise AssertionError(f"cfn-lint has no PostgreSQL classes for {region}")


def cfn_lint_regions() -> set[str]:
    from cfnlint.helpers import REGIONS

    return set(REGIONS)


def test_supported_regions_are_commercial_regions_cfn_lint_knows() -> None:
    known = cfn_lint_regions()
    for region in regions.REGIONS:
        assert region in known, region
        assert not region.startswith(("us-gov-", "cn-", "us-iso", "eu-isoe", "eusc-")), region
    assert regions.PARTITION == "aws"
    assert "ap-southeast-3" in regions.REGIONS
    assert "us-west-1" in regions.REGIONS


@pytest.mark.parametrize("region", sorted(regions.REGIONS))
def test_every_offered_instance_class_exists_in_the_region(region: str) -> None:
    offered = postgres_classes(region)
    missing = [c for c in DB_INSTANCE_CLASSES if c not in offered]
    assert missing == [], f"{region} has no {missing}"
    for profile in PROFILES:
        assert profile.db_instance_class in DB_INSTANCE_CLASSES


def test_instance_classes_run_the_current_minors_of_the_engine_major() -> None:
    deprecated: set[str] = set()
    for case in _rds("engine_version_deprecated.json")["allOf"]:
        if case["if"]["properties"].get("Engine", {}).get("const") == "postgres":
            deprecated = set(case["if"]["properties"]["EngineVersion"]["enum"])
    current = []
    for case in _rds("db_instance_class.json")["allOf"]:
        when = case["if"]["properties"]
        pattern = when.get("EngineVersion", {}).get("pattern", "")
        match = re.fullmatch(rf"\^\({ENGINE_MAJOR_VERSION}\\\.(\d+)\\\..+\|\d+\\\.\d+\)\$", pattern)
        if when.get("Engine", {}).get("const") != "postgres" or match is None:
            continue
        version = f"{ENGINE_MAJOR_VERSION}.{match.group(1)}"
        if version in deprecated or match.group(1).startswith("0"):  # "17.00" is no release
            continue
        offered = set(case["then"]["properties"]["DBInstanceClass"]["enum"])
        current.append(version)
        assert set(DB_INSTANCE_CLASSES) <= offered, (version, set(DB_INSTANCE_CLASSES) - offered)
    assert current, f"cfn-lint lists no current minor of PostgreSQL {ENGINE_MAJOR_VERSION}"


def test_az_defaults_follow_where_fargate_runs() -> None:
    assert set(regions.REGIONS.values()) == {2, 3}
    assert regions.TWO_AZ_REGIONS == ("us-west-1",)  # usw1-az1 and usw1-az3 only


def test_elb_log_delivery_accounts_are_only_for_supported_regions() -> None:
    assert set(regions.ELB_ACCOUNTS) <= set(regions.REGIONS)
    assert all(re.fullmatch(r"\d{12}", a) for a in regions.ELB_ACCOUNTS.values())
    # Regions opened from August 2022 on use the service principal instead.
    for newer in (
        "ap-south-2",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-west-1",
        "eu-central-2",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "mx-central-1",
    ):
        assert newer in regions.REGIONS
        assert newer not in regions.ELB_ACCOUNTS


def test_docs_list_exactly_the_supported_regions() -> None:
    text = (ROOT / "docs" / "regions.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (\d) \|", text, re.M))
    assert {r: int(n) for r, n in rows.items()} == regions.REGIONS


@pytest.mark.slow
def test_every_template_lints_clean_in_every_supported_region(tmp_path: Path) -> None:
    from cfnlint.api import ManualArgs, lint_by_config

    artifacts = build_templates.build_artifacts(("yaml",), None)
    build_templates.write_artifacts(tmp_path, artifacts, [])
    paths = [str(tmp_path / a.path) for a in artifacts if a.template is not None]
    findings = list(lint_by_config(ManualArgs(templates=paths, regions=sorted(regions.REGIONS))))
    assert [f"{m.filename}:{m.linenumber} {m.rule.id} {m.message}" for m in findings] == []
