"""build_templates.py --diagram: drawn from the templates with diagrams and Graphviz's dot."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import build_templates
from templates_src import diagram, inventory, reports
from templates_src.diagram import GLUE_TYPES, PNG_SIZE, png_dimensions
from tests.templates.cfn import Doc

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
PRODUCTION_GIVEN = {"CertificateArn": reports.SAMPLE_VALUES["CertificateArn"]}


def svg_words(path: Path) -> set[str]:
    """Every word of every text element the browser would show."""
    root = ET.parse(path).getroot()
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    return set(re.findall(r"[A-Za-z0-9.]+", text))


def drawn_ids(found: list[inventory.Resource]) -> set[str]:
    return {r.logical_id for r in found if r.type_ not in GLUE_TYPES}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("diagram")
    assert build_templates.main(["--diagram", "--out", str(out)]) == 0
    return out / "diagrams"


@pytest.mark.parametrize(
    ("name", "given"),
    [("quickstart", {}), ("production", PRODUCTION_GIVEN)],
)
def test_every_nested_stacks_main_resources_appear(
    rendered: Path, name: str, given: dict[str, str], all_templates: dict[str, Doc]
) -> None:
    found = inventory.resources(all_templates[name], all_templates, given)
    words = svg_words(rendered / f"cloud-optimizer-{name}.svg")
    for stack in ("vpc", "nat", "alb", "rds", "ecs"):
        expected = drawn_ids([r for r in found if r.stack == stack])
        assert expected, stack
        assert expected <= words, f"{stack}: missing {sorted(expected - words)}"
    # Each AZ the VPC stack creates, with its subnets.
    azs = {r.logical_id[-1] for r in found if r.type_ == "AWS::EC2::Subnet"}
    for az in azs:
        assert {"Availability", "Zone", az, "Private", "subnet"} <= words


def test_the_png_is_what_marketplace_asks_for_and_the_svg_is_self_contained(
    rendered: Path,
) -> None:
    for png in rendered.glob("*.png"):
        assert png_dimensions(png.read_bytes()) == PNG_SIZE == (1100, 700)
    for svg in rendered.glob("*.svg"):
        root = ET.parse(svg).getroot()
        hrefs = [
            image.get("{http://www.w3.org/1999/xlink}href", "")
            for image in root.iter(f"{SVG}image")
        ]
        assert hrefs, "no icons drawn"
        assert all(h.startswith("data:image/png;base64,") for h in hrefs), "a local file path"


def test_committed_diagrams_are_current(rendered: Path) -> None:
    committed = ROOT / "out" / "diagrams"
    assert sorted(p.name for p in committed.iterdir()) == sorted(p.name for p in rendered.iterdir())
    for drawn in rendered.iterdir():
        assert (committed / drawn.name).read_bytes() == drawn.read_bytes(), (
            f"out/diagrams/{drawn.name} is stale: run `bash scripts/dev.sh build --diagram`"
        )


def test_the_parameters_decide_what_is_drawn(
    quickstart_t: Doc, production_t: Doc, children: dict[str, Doc]
) -> None:
    trial = diagram.layout("t", inventory.resources(quickstart_t, children))
    production = diagram.layout("p", inventory.resources(production_t, children, PRODUCTION_GIVEN))
    nat = diagram.ICONS["AWS::EC2::NatGateway"]
    assert sum(n.icon == nat for n in trial.nodes()) == 1  # one NAT gateway for the trial
    assert sum(n.icon == nat for n in production.nodes()) == 3  # one per AZ
    assert len(trial.azs) == 2
    assert len(production.azs) == 3
    assert not any(n.key.endswith("@standby") for n in trial.nodes())
    assert any(n.key.endswith("@standby") for n in production.nodes())  # Multi-AZ
    # Two AZs in a region whose Fargate has two (the production parent's mapping).
    two = diagram.layout(
        "p", inventory.resources(production_t, children, PRODUCTION_GIVEN, "us-west-1")
    )
    assert len(two.azs) == 2


def test_a_resource_type_the_templates_gain_is_drawn_at_its_condition(
    quickstart_t: Doc, children: dict[str, Doc]
) -> None:
    """What another branch adds (CloudFront, alarms, endpoints) appears with no change here."""
    alb = copy.deepcopy(children["alb"])
    alb["Conditions"]["Never"] = {"Fn::Equals": ["a", "b"]}
    alb["Resources"]["Distribution"] = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {"DistributionConfig": {"Enabled": True}},
    }
    alb["Resources"]["HighLatencyAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}
    alb["Resources"]["SkippedAlarm"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Condition": "Never",
        "Properties": {},
    }
    alb["Resources"]["LogsEndpoint"] = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.logs"},
            "VpcEndpointType": "Interface",
        },
    }
    plan = diagram.layout("x", inventory.resources(quickstart_t, {**children, "alb": alb}))
    ids = {i for n in plan.nodes() for i in n.logical_ids}
    assert {"Distribution", "HighLatencyAlarm", "LogsEndpoint"} <= ids
    assert "SkippedAlarm" not in ids
    edge = next(e for e in plan.edge if "Distribution" in e.logical_ids)
    assert edge.icon == "aws.network.CloudFront"
    assert diagram.Flow("users", edge.key, "HTTPS") in plan.flows
    endpoint = next(n for n in plan.in_vpc if "LogsEndpoint" in n.logical_ids)
    assert "Interface endpoint: logs" in endpoint.label
    alarm = next(n for n in plan.nodes() if "HighLatencyAlarm" in n.logical_ids)
    assert alarm.icon == "aws.management.CloudwatchAlarm"


def test_without_graphviz_the_command_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert build_templates.main(["--diagram", "--out", str(tmp_path)]) == build_templates.EXIT_USAGE
    error = capsys.readouterr().err.strip()
    assert error.startswith("build_templates.py: error: --diagram needs Graphviz's dot")
    assert "\n" not in error


def test_an_unwritable_out_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = build_templates.main(["--diagram", "--out", str(blocker)])
    assert code == build_templates.EXIT_WRITE
    assert capsys.readouterr().err.startswith(
        f"build_templates.py: error: cannot write --out {blocker}"
    )
