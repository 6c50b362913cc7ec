"""The parents: one-click defaults, rules, wiring to the children, parameter files."""

from __future__ import annotations

import json

import pytest

import build_templates
from templates_src.parents import CERTIFICATE_PLACEHOLDER, MARKETPLACE_IMAGE
from templates_src.profile import PRODUCTION, TRIAL, Profile
from tests.templates.cfn import Doc, matches, props, resources, walk

VALID_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
STACK_FILES = {"VpcStack": "vpc", "AlbStack": "alb", "RdsStack": "rds", "EcsStack": "ecs"}


def test_parents_hold_only_the_four_nested_stacks(quickstart_t: Doc, production_t: Doc) -> None:
    for parent in (quickstart_t, production_t):
        stacks = resources(parent)
        assert set(stacks) == set(STACK_FILES)
        assert {s["Type"] for s in stacks.values()} == {"AWS::CloudFormation::Stack"}
        assert stacks["VpcStack"]["Condition"] == "CreateVpc"


def test_quickstart_deploys_with_every_parameter_at_its_default(quickstart_t: Doc) -> None:
    for name, parameter in quickstart_t["Parameters"].items():
        assert "Default" in parameter, name
        default = str(parameter["Default"])
        if "AllowedPattern" in parameter:
            assert matches(parameter["AllowedPattern"], default), name
        if "AllowedValues" in parameter:
            assert default in [str(v) for v in parameter["AllowedValues"]], name
    assert quickstart_t["Parameters"]["ContainerImage"]["Default"] == MARKETPLACE_IMAGE
    # Rules hold at the defaults: no existing VPC, no subnets, no certificate needed.
    assert "ProductionNeedsCertificate" not in quickstart_t["Rules"]


def test_production_requires_a_certificate_by_pattern_and_rule(production_t: Doc) -> None:
    parameter = production_t["Parameters"]["CertificateArn"]
    assert "Default" not in parameter
    assert matches(parameter["AllowedPattern"], VALID_CERT)
    assert not matches(parameter["AllowedPattern"], "")
    assert not matches(parameter["AllowedPattern"], CERTIFICATE_PLACEHOLDER)
    rule = production_t["Rules"]["ProductionNeedsCertificate"]
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]
    }


def test_quickstart_certificate_is_optional(quickstart_t: Doc) -> None:
    pattern = quickstart_t["Parameters"]["CertificateArn"]["AllowedPattern"]
    assert matches(pattern, "")
    assert matches(pattern, VALID_CERT)
    assert not matches(pattern, "arn:aws:iam::123456789012:role/x")


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
def test_rules_reject_an_existing_vpc_without_subnets_and_subnets_without_a_vpc(
    parent: str, request: pytest.FixtureRequest
) -> None:
    rules = request.getfixturevalue(parent)["Rules"]
    needs = rules["ExistingVpcNeedsSubnets"]
    assert needs["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingVpcId"}, ""]}]}
    assert len(needs["Assertions"]) == 2
    takes_none = rules["NewVpcTakesNoSubnets"]
    assert takes_none["RuleCondition"] == {"Fn::Equals": [{"Ref": "ExistingVpcId"}, ""]}


def test_existing_vpc_parameters_reject_malformed_ids(quickstart_t: Doc) -> None:
    params = quickstart_t["Parameters"]
    assert matches(params["ExistingVpcId"]["AllowedPattern"], "vpc-0123456789abcdef0")
    assert not matches(params["ExistingVpcId"]["AllowedPattern"], "vpc-XYZ")
    subnets = params["ExistingPrivateSubnetIds"]["AllowedPattern"]
    assert matches(subnets, "subnet-0123456789abcdef0,subnet-0123456789abcdef1")
    assert not matches(subnets, "subnet-0123456789abcdef0")  # one subnet is not enough
    assert not matches(params["VpcCidr"]["AllowedPattern"], "10.0.0.0/24")


@pytest.mark.parametrize(
    ("parent", "profile"), [("quickstart_t", TRIAL), ("production_t", PRODUCTION)]
)
def test_profile_values_reach_the_children(
    parent: str, profile: Profile, request: pytest.FixtureRequest
) -> None:
    stacks = resources(request.getfixturevalue(parent))
    vpc = props(stacks["VpcStack"])["Parameters"]
    assert vpc["AvailabilityZoneCount"] == str(profile.availability_zones)
    alb = props(stacks["AlbStack"])["Parameters"]
    nat = "per-az" if profile.nat_gateway_per_az else "single"
    assert alb["NatGateways"] == {"Fn::If": ["CreateVpc", nat, "none"]}
    assert alb["DeletionProtection"] == str(profile.alb_deletion_protection).lower()
    rds = props(stacks["RdsStack"])["Parameters"]
    assert rds["MultiAZ"] == str(profile.db_multi_az).lower()
    assert rds["DeletionProtection"] == str(profile.db_deletion_protection).lower()
    assert rds["PerformanceInsights"] == str(profile.db_performance_insights).lower()
    assert rds["SnapshotOnDelete"] == str(profile.db_snapshot_on_delete).lower()


def test_trial_is_small_and_production_is_highly_available() -> None:
    assert (TRIAL.availability_zones, TRIAL.nat_gateway_per_az, TRIAL.db_multi_az) == (
        2,
        False,
        False,
    )
    assert (PRODUCTION.availability_zones, PRODUCTION.nat_gateway_per_az) == (3, True)
    assert PRODUCTION.db_multi_az
    assert PRODUCTION.db_deletion_protection
    assert PRODUCTION.db_snapshot_on_delete
    assert not TRIAL.db_snapshot_on_delete
    assert PRODUCTION.certificate_required
    assert not TRIAL.certificate_required


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
def test_wiring_matches_each_childs_interface(
    parent: str, children: dict[str, Doc], request: pytest.FixtureRequest
) -> None:
    template = request.getfixturevalue(parent)
    for title, stack in resources(template).items():
        child = children[STACK_FILES[title]]
        passed = set(props(stack)["Parameters"])
        declared = set(child["Parameters"])
        required = {n for n, p in child["Parameters"].items() if "Default" not in p}
        assert passed <= declared, f"{title} passes unknown {passed - declared}"
        assert required <= passed, f"{title} misses {required - passed}"
    for node in walk(template):
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            stack, attribute = node["Fn::GetAtt"]
            output = attribute.removeprefix("Outputs.")
            assert output in children[STACK_FILES[stack]]["Outputs"], f"{stack}.{output}"


def test_parent_outputs_cover_url_cluster_database_and_secrets(quickstart_t: Doc) -> None:
    assert {
        "ServiceUrl",
        "ClusterName",
        "ServiceName",
        "DatabaseEndpoint",
        "DatabaseSecretArn",
        "AppSecretArn",
    } <= set(quickstart_t["Outputs"])


def test_parameter_files_list_every_parent_parameter(
    artifacts: list[build_templates.Artifact], quickstart_t: Doc, production_t: Doc
) -> None:
    files = {a.path: json.loads(a.text) for a in artifacts if a.path.startswith("parameters/")}
    for path, parent in (
        ("parameters/trial.json", quickstart_t),
        ("parameters/production.json", production_t),
    ):
        values = {p["ParameterKey"]: p["ParameterValue"] for p in files[path]}
        assert all(set(p) == {"ParameterKey", "ParameterValue"} for p in files[path])
        assert set(values) == set(parent["Parameters"])
        for name, value in values.items():
            if "Default" in parent["Parameters"][name]:
                assert value == str(parent["Parameters"][name]["Default"])
    production = {
        p["ParameterKey"]: p["ParameterValue"] for p in files["parameters/production.json"]
    }
    assert production["CertificateArn"] == CERTIFICATE_PLACEHOLDER
    assert "REPLACE" in CERTIFICATE_PLACEHOLDER
    assert production["DBInstanceClass"] == PRODUCTION.db_instance_class
    assert production["TaskSize"] == PRODUCTION.task_size
