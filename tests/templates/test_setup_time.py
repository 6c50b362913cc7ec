"""The setup-time estimate: under 10 minutes for the quickstart, and documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import build_templates
from templates_src import setup_time
from tests.templates.cfn import Doc, resources

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "setup-time.md"


def estimate(parent: Doc, children: dict[str, Doc], **given: str) -> setup_time.Estimate:
    return setup_time.critical_path(parent, children, given)


def flatten(chain: list[setup_time.Step]) -> list[setup_time.Step]:
    return [s for step in chain for s in (step, *flatten(step.inner))]


def test_quickstart_is_estimated_under_ten_minutes(
    quickstart_t: Doc, children: dict[str, Doc]
) -> None:
    total = estimate(quickstart_t, children).total
    assert total < setup_time.QUICKSTART_LIMIT_SECONDS, setup_time.clock(total)


def test_the_database_is_the_long_pole_and_starts_right_after_the_subnets(
    quickstart_t: Doc, children: dict[str, Doc]
) -> None:
    chain = estimate(quickstart_t, children).chain
    assert [s.logical_id for s in chain] == ["VpcStack", "RdsStack", "EcsStack"]
    steps = {s.logical_id: s for s in flatten(chain)}
    assert steps["RdsStack"].start == steps["VpcStack"].finish
    database = steps["TrialDatabase"]
    assert database.seconds == max(s.seconds for s in flatten(chain) if not s.inner)
    # Nothing NAT-related, and nothing of the ALB stack, is on the chain.
    assert not [s for s in steps.values() if "Nat" in s.logical_id or s.logical_id == "AlbStack"]


def test_only_the_service_side_waits_for_the_database(
    quickstart_t: Doc, children: dict[str, Doc]
) -> None:
    steps = {s.logical_id: s for s in flatten(estimate(quickstart_t, children).chain)}
    after_database = [s.logical_id for s in steps.values() if s.start >= steps["RdsStack"].finish]
    assert set(after_database) <= {
        "EcsStack",
        "LogGroup",
        "AppSecret",  # the task role names it (the API token is re-read after a rotation)
        "ExecutionRole",
        "TaskRole",
        "TaskDefinition",
        "Service",
        "ScalableTarget",
        "CpuScalingPolicy",
        "RequestScalingPolicy",
    }


def test_production_waits_for_a_multi_az_database(
    production_t: Doc, children: dict[str, Doc]
) -> None:
    steps = flatten(estimate(production_t, children, CertificateArn="<given>").chain)
    database = next(s for s in steps if s.type_ == "AWS::RDS::DBInstance")
    assert database.logical_id == "Database"
    assert database.seconds == setup_time.DURATIONS["AWS::RDS::DBInstance (Multi-AZ)"].seconds


def test_every_resource_type_has_a_duration(all_templates: dict[str, Doc]) -> None:
    for template in all_templates.values():
        for resource in resources(template).values():
            # Custom resources (Custom::X) share the custom-resource rows.
            kind = str(resource["Type"])
            if kind.startswith("Custom::"):
                kind = "AWS::CloudFormation::CustomResource"
            if resource.get("Properties", {}).get("VpcEndpointType") == "Interface":
                kind += " (Interface)"
            assert kind in setup_time.DURATIONS, resource["Type"]


def test_docs_table_lists_the_durations_the_code_uses() -> None:
    rows = re.findall(
        r"^\| `(AWS::[^`]+)` \| (\d+) \| ([a-z-]+) \|$", DOC.read_text(), re.MULTILINE
    )
    documented = {t: (int(s), source) for t, s, source in rows}
    assert documented == {t: (d.seconds, d.source) for t, d in setup_time.DURATIONS.items()}
    for source in {d.source for d in setup_time.DURATIONS.values()}:
        assert f"**{source}**" in DOC.read_text(), f"source {source} is not described"


def test_docs_show_the_current_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_templates.main(["--critical-path"]) == build_templates.EXIT_OK
    printed = capsys.readouterr().out.split("\n\ndurations and their sources")[0].strip()
    block = DOC.read_text().split("```text\n", 1)[1].split("```", 1)[0].strip()
    assert block == printed, (
        "docs/setup-time.md is stale: paste `build_templates.py --critical-path`"
    )


def test_cloudfront_builds_while_the_database_does_and_stays_off_the_chain(
    quickstart_t: Doc, children: dict[str, Doc]
) -> None:
    edge = {n: r for n, r in quickstart_t["Resources"].items() if n != "EcsStack"}
    steps = {
        s.logical_id: s
        for s in flatten(estimate({**quickstart_t, "Resources": edge}, children).chain)
    }
    full = estimate(quickstart_t, children)
    database = {s.logical_id: s for s in flatten(full.chain)}["TrialDatabase"]
    assert "CloudfrontStack" in steps  # the longest chain without the service's stack
    assert steps["CloudfrontStack"].start < database.finish  # in parallel with the database
    assert steps["Distribution"].seconds == 300
    assert steps["CloudfrontStack"].finish < full.total  # off the quickstart's chain
    assert "CloudfrontStack" not in {s.logical_id for s in full.chain}


def test_production_with_every_option_on_is_estimated_within_twenty_minutes(
    production_t: Doc, children: dict[str, Doc]
) -> None:
    options = {
        "CertificateArn": "<given>",
        "AlarmsEnabled": "true",
        "AlarmEmail": "ops@example.com",
        "WebAclArn": "<given>",
        "HostedZoneId": "Z0123456789ABCDEFGHIJ",
        "PermissionsBoundaryArn": "<given>",
        "CostAllocationTagValue": "cc-42",
        "NetworkEgress": "vpc-endpoints",
    }
    options = {k: v for k, v in options.items() if k in production_t["Parameters"]}
    total = estimate(production_t, children, **options).total
    assert total <= setup_time.PRODUCTION_LIMIT_SECONDS, setup_time.clock(total)
