"""build_templates.py --cost-estimate: sizes from the templates, prices from a documented table."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

import build_templates
from templates_src import cost, inventory, reports
from templates_src.cost import HOURS_PER_MONTH, PRICES
from tests.templates.cfn import Doc

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cost-estimate.md"
README = ROOT / "README.md"
PRODUCTION_GIVEN = {"CertificateArn": reports.SAMPLE_VALUES["CertificateArn"]}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = build_templates.main(["--cost-estimate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def line(result: cost.Estimate, logical_id: str) -> cost.Line:
    return next(x for x in result.lines if x.logical_id == logical_id)


def test_the_sizes_come_from_the_templates(quickstart_t: Doc, children: dict[str, Doc]) -> None:
    """Change the task size in the ECS template and the estimate follows it."""
    found = inventory.resources(quickstart_t, children)
    task = next(r for r in found if r.type_ == "AWS::ECS::TaskDefinition")
    prices = PRICES["us-east-1"]
    cpu, memory = int(task.get("Cpu")) / 1024, int(task.get("Memory")) / 1024
    expected = (
        cpu * prices["fargate-vcpu-x86"].usd + memory * prices["fargate-gb-x86"].usd
    ) * HOURS_PER_MONTH
    assert line(cost.estimate(found, "us-east-1"), "Service").monthly == pytest.approx(expected)

    ecs = copy.deepcopy(children["ecs"])
    for size in ecs["Mappings"]["TaskSizes"].values():  # every size four times larger
        size.update(Cpu=str(int(size["Cpu"]) * 4), Memory=str(int(size["Memory"]) * 4))
    bigger = inventory.resources(quickstart_t, {**children, "ecs": ecs})
    assert line(cost.estimate(bigger, "us-east-1"), "Service").monthly == pytest.approx(
        expected * 4
    )


def test_profiles_differ_where_the_templates_do(
    quickstart_t: Doc, production_t: Doc, children: dict[str, Doc]
) -> None:
    trial = cost.estimate(inventory.resources(quickstart_t, children), "us-east-1")
    production = cost.estimate(
        inventory.resources(production_t, children, PRODUCTION_GIVEN), "us-east-1"
    )
    prices = PRICES["us-east-1"]
    nat = [x for x in production.lines if x.type_ == "AWS::EC2::NatGateway"]
    assert len(nat) == 3
    assert len([x for x in trial.lines if x.type_ == "AWS::EC2::NatGateway"]) == 1
    database = line(production, "Database")
    # Multi-AZ: two instances and twice the storage (RDS User Guide, Multi-AZ DB instances).
    assert database.monthly == pytest.approx(
        2 * prices["rds db.m6g.large"].usd * HOURS_PER_MONTH + 2 * 100 * prices["rds-gp3"].usd
    )
    assert "Multi-AZ" in database.what
    assert line(trial, "TrialDatabase").monthly == pytest.approx(
        prices["rds db.t3.micro"].usd * HOURS_PER_MONTH + 20 * prices["rds-gp3"].usd
    )
    # The load balancer's public IPv4 addresses: one per public subnet (2 and 3 AZs).
    alb_hour = prices["alb-hour"].usd * HOURS_PER_MONTH
    ipv4 = prices["public-ipv4"].usd * HOURS_PER_MONTH
    assert line(trial, "LoadBalancer").monthly == pytest.approx(alb_hour + 2 * ipv4)
    assert line(production, "LoadBalancer").monthly == pytest.approx(alb_hour + 3 * ipv4)
    assert production.total > trial.total


def test_every_resource_type_is_priced_or_free(all_templates: dict[str, Doc]) -> None:
    for template in all_templates.values():
        for resource in template["Resources"].values():
            kind = str(resource["Type"])
            if kind.startswith("Custom::"):
                kind = "AWS::CloudFormation::CustomResource"
            assert kind in cost.FREE_TYPES | cost.PRICED_TYPES, kind


def test_every_instance_class_a_parent_allows_has_a_price(all_templates: dict[str, Doc]) -> None:
    for name in ("quickstart", "production"):
        for klass in all_templates[name]["Parameters"]["DBInstanceClass"]["AllowedValues"]:
            assert f"rds {klass}" in PRICES["us-east-1"], klass


def test_usage_dependent_charges_are_listed_and_left_out_of_the_total(
    quickstart_t: Doc, children: dict[str, Doc]
) -> None:
    result = cost.estimate(inventory.resources(quickstart_t, children), "us-east-1")
    assert line(result, "AccessLogBucket").monthly == 0
    assert line(result, "AccessLogBucket").usage
    assert any("LCU" in u for u in line(result, "LoadBalancer").usage)
    assert any("per GB processed" in u for u in line(result, "NatGateway1").usage)
    assert result.total == pytest.approx(sum(x.monthly for x in result.lines), abs=0.01)


def test_a_type_without_a_row_is_flagged(quickstart_t: Doc, children: dict[str, Doc]) -> None:
    alb = copy.deepcopy(children["alb"])
    alb["Resources"]["Cache"] = {"Type": "AWS::ElastiCache::CacheCluster", "Properties": {}}
    alb["Resources"]["Alarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}
    result = cost.estimate(inventory.resources(quickstart_t, {**children, "alb": alb}), "us-east-1")
    assert [r.logical_id for r in result.unpriced] == ["Cache"]
    assert line(result, "Alarm").monthly == PRICES["us-east-1"]["alarm"].usd
    assert "NOT PRICED (no row in the price table): alb Cache" in cost.describe("x", result)


def test_the_price_table_in_the_doc_is_the_code_s() -> None:
    rows = re.findall(r"^\| `([^`]+)` \| (\$[0-9.]+) \| (.+?) \| (\w+) \|$", DOC.read_text(), re.M)
    documented = {key: (price, unit, source) for key, price, unit, source in rows}
    expected = {key: (cost.usd(p.usd), p.unit, p.source) for key, p in PRICES["us-east-1"].items()}
    assert documented == expected
    assert PRICES["us-west-2"] == PRICES["us-east-1"]  # the doc says they are the same
    text = DOC.read_text()
    assert cost.PRICE_DATE in text
    for key, url in cost.SOURCES.items():
        assert f"- **{key}**: {url}" in text, key


def test_the_doc_shows_the_current_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    printed = out.split("\n\nprices and their sources")[0]
    block = re.search(r"```text\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/cost-estimate.md has no estimate block"
    assert block.group(1).rstrip("\n") == printed.rstrip("\n"), (
        "docs/cost-estimate.md is stale: paste `python build_templates.py --cost-estimate`"
    )


def test_the_readme_shows_the_quickstart_s_figure(
    quickstart_t: Doc, production_t: Doc, children: dict[str, Doc]
) -> None:
    trial = cost.estimate(inventory.resources(quickstart_t, children), "us-east-1")
    production = cost.estimate(
        inventory.resources(production_t, children, PRODUCTION_GIVEN), "us-east-1"
    )
    readme = README.read_text()
    assert f"**${trial.total:,.2f} a month** in us-east-1" in readme
    assert f"production at its defaults is ${production.total:,.2f}" in readme
    assert "(out/diagrams/cloud-optimizer-quickstart.png)" in readme


def test_a_parameter_file_changes_the_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "stack.json"
    values.write_text(
        json.dumps(
            [
                {"ParameterKey": "DBInstanceClass", "ParameterValue": "db.t3.small"},
                {"ParameterKey": "TaskSize", "ParameterValue": "0.5vCPU-1GB"},
            ]
        )
    )
    code, out, _ = run(capsys, "--parameters", str(values))
    assert code == 0
    assert f"parameters from {values}" in out
    assert "db.t3.small PostgreSQL" in out
    assert "0.5 vCPU, 1 GB" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--region", "eu-west-1"], "no price table for eu-west-1 (have: us-east-1, us-west-2"),
        (["--region", "moon"], "--region must look like us-east-1"),
    ],
)
def test_bad_regions_are_named(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == build_templates.EXIT_USAGE
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"ParameterKey": "DBInstanceClass", "ParameterValue": "db.x1.32xlarge"}]', "not one of"),
        ('[{"ParameterKey": "NoSuchThing", "ParameterValue": "1"}]', "NoSuchThing is not a"),
        ('{"DBInstanceClass": "db.t3.micro"}', "not a list of ParameterKey"),
        ("\x00\udcff", "not a list of ParameterKey"),
    ],
)
def test_bad_parameter_files_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    values = tmp_path / "stack.json"
    values.write_bytes(content.encode("utf-8", "surrogateescape"))
    code, _, err = run(capsys, "--parameters", str(values))
    assert code == build_templates.EXIT_USAGE
    assert message in err
    assert "Traceback" not in err


def test_parameters_alone_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_templates.main(["--parameters", "x.json"]) == build_templates.EXIT_USAGE
    assert "--parameters goes with --check-update or --cost-estimate" in capsys.readouterr().err
