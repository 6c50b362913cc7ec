"""The parents: one-click defaults, rules, wiring to the children, parameter files."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from templates_src import regions
from templates_src.artifacts import Artifact
from templates_src.intrinsics import Context, UnresolvableError, resolve
from templates_src.params import VPC_CIDR_PATTERN
from templates_src.parents import CERTIFICATE_PLACEHOLDER, DOMAIN_PLACEHOLDER, MARKETPLACE_IMAGE
from templates_src.profile import PRODUCTION, TRIAL, Profile
from tests.templates.cfn import Doc, matches, props, resources, walk

VALID_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
STACK_FILES = {
    "VpcStack": "vpc",
    "NatStack": "nat",
    "AlbStack": "alb",
    "RdsStack": "rds",
    "EcsStack": "ecs",
    "CloudfrontStack": "cloudfront",
}


def test_parents_hold_only_nested_stacks_and_cloudfront_only_for_the_trial_without_certificate(
    quickstart_t: Doc, production_t: Doc
) -> None:
    for parent in (quickstart_t, production_t):
        stacks = resources(parent)
        assert {s["Type"] for s in stacks.values()} == {"AWS::CloudFormation::Stack"}
        assert stacks["VpcStack"]["Condition"] == "CreateVpc"
    assert set(resources(production_t)) == set(STACK_FILES) - {"CloudfrontStack"}
    assert set(resources(quickstart_t)) == set(STACK_FILES)
    assert resources(quickstart_t)["CloudfrontStack"]["Condition"] == "BehindCloudFront"
    assert quickstart_t["Conditions"]["BehindCloudFront"] == {
        "Fn::Equals": [{"Ref": "CertificateArn"}, ""]
    }


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
    template = request.getfixturevalue(parent)
    stacks = resources(template)
    vpc = props(stacks["VpcStack"])["Parameters"]
    azs = resolve(vpc["AvailabilityZoneCount"], Context(template, {}, region="us-east-1"))
    assert azs == str(profile.availability_zones)
    alb = props(stacks["AlbStack"])["Parameters"]
    nat = props(stacks["NatStack"])["Parameters"]
    expected = "per-az" if profile.nat_gateway_per_az else "single"
    new_vpc = Context(template, {}, region="us-east-1")
    assert resolve(nat["NatGateways"], new_vpc) == expected  # at the defaults
    assert new_vpc.active("NatStack")
    existing = Context(template, {"ExistingVpcId": "vpc-0123456789abcdef0"}, region="us-east-1")
    assert not existing.active("NatStack")  # an existing VPC keeps its own egress
    ecs = props(stacks["EcsStack"])["Parameters"]
    assert ecs["DeletionProtection"] == str(profile.deletion_protection).lower()
    assert "DeletionProtection" not in alb
    rds = props(stacks["RdsStack"])["Parameters"]
    assert rds["MultiAZ"] == str(profile.db_multi_az).lower()
    assert "DeletionProtection" not in rds
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
    assert PRODUCTION.deletion_protection
    assert not TRIAL.deletion_protection
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
    artifacts: list[Artifact], quickstart_t: Doc, production_t: Doc
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
    assert production["DomainName"] == DOMAIN_PLACEHOLDER
    assert "REPLACE" in CERTIFICATE_PLACEHOLDER
    assert production["DBInstanceClass"] == PRODUCTION.db_instance_class
    assert production["TaskSize"] == PRODUCTION.task_size


# --- Rules and per-region choices, evaluated as CloudFormation evaluates them -------------

CERT = VALID_CERT


def rule_failures(template: Doc, values: dict[str, str], region: str = "us-east-1") -> list[str]:
    """AssertDescription of every rule assertion the values break (CloudFormation's check)."""
    parameters = {
        name: values.get(name, str(p.get("Default", "")))
        for name, p in template["Parameters"].items()
    }
    ctx = Context(template, parameters, region=region)
    failed = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not resolve(rule["RuleCondition"], ctx):
            continue
        failed += [
            a["AssertDescription"] for a in rule["Assertions"] if not resolve(a["Assert"], ctx)
        ]
    return failed


PRODUCTION_VALUES = {"CertificateArn": CERT, "DomainName": "co.example.com"}


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
def test_max_count_below_desired_count_is_refused_before_anything_is_created(
    parent: str, request: pytest.FixtureRequest
) -> None:
    template = request.getfixturevalue(parent)
    base = PRODUCTION_VALUES if parent == "production_t" else {}
    assert rule_failures(template, base) == []
    assert rule_failures(template, {**base, "DesiredCount": "4", "MaxCount": "4"}) == []
    assert rule_failures(template, {**base, "DesiredCount": "1", "MaxCount": "20"}) == []
    for desired, maximum in (("4", "2"), ("20", "19"), ("2", "1")):
        failed = rule_failures(template, {**base, "DesiredCount": desired, "MaxCount": maximum})
        assert failed == ["MaxCount must be at least DesiredCount"], (desired, maximum)


def test_production_spans_three_azs_where_fargate_has_three_and_two_in_us_west_1(
    production_t: Doc,
) -> None:
    vpc = props(resources(production_t)["VpcStack"])["Parameters"]
    for region, expected in regions.REGIONS.items():
        ctx = Context(production_t, {"AvailabilityZoneCount": "auto"}, region=region)
        assert resolve(vpc["AvailabilityZoneCount"], ctx) == str(expected), region
    assert regions.REGIONS["us-west-1"] == 2
    given = Context(production_t, {"AvailabilityZoneCount": "2"}, region="eu-west-1")
    assert resolve(vpc["AvailabilityZoneCount"], given) == "2"


def test_three_azs_in_a_two_az_region_is_refused_with_a_message(production_t: Doc) -> None:
    values = {**PRODUCTION_VALUES, "AvailabilityZoneCount": "3"}
    (failed,) = rule_failures(production_t, values, region="us-west-1")
    assert "two Availability Zones" in failed
    assert rule_failures(production_t, values, region="us-east-1") == []
    assert (
        rule_failures(production_t, {**values, "AvailabilityZoneCount": "auto"}, "us-west-1") == []
    )


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
@pytest.mark.parametrize("region", ["us-gov-west-1", "cn-north-1", "eu-isoe-west-1"])
def test_unsupported_regions_and_partitions_fail_before_any_resource(
    parent: str, region: str, request: pytest.FixtureRequest
) -> None:
    template = request.getfixturevalue(parent)
    base = PRODUCTION_VALUES if parent == "production_t" else {}
    failed = rule_failures(template, base, region=region)
    assert any("commercial regions where AWS Fargate runs" in f for f in failed)
    vpc = props(resources(template)["VpcStack"])["Parameters"]
    # Should the rule ever be bypassed, the region mapping fails the template as well.
    with pytest.raises(UnresolvableError, match=f"SupportedRegions::{region}"):
        resolve(
            vpc["AvailabilityZoneCount"],
            Context(template, {"AvailabilityZoneCount": "auto"}, region=region),
        )


def test_certificate_and_domain_name_go_together(quickstart_t: Doc, production_t: Doc) -> None:
    assert rule_failures(quickstart_t, {}) == []
    assert rule_failures(quickstart_t, PRODUCTION_VALUES) == []
    assert rule_failures(quickstart_t, {"CertificateArn": CERT}) == [
        "CertificateArn needs DomainName: give them together"
    ]
    assert rule_failures(quickstart_t, {"DomainName": "co.example.com"}) == [
        "DomainName needs CertificateArn: give them together"
    ]
    domain = production_t["Parameters"]["DomainName"]
    assert "Default" not in domain
    assert matches(domain["AllowedPattern"], "co.example.com")
    assert not matches(domain["AllowedPattern"], "")
    assert not matches(domain["AllowedPattern"], DOMAIN_PLACEHOLDER)
    assert not matches(domain["AllowedPattern"], "-bad-.example.com")


def test_production_service_url_is_the_certificates_domain(production_t: Doc) -> None:
    alb = props(resources(production_t)["AlbStack"])["Parameters"]
    assert alb["DomainName"] == {"Ref": "DomainName"}
    assert alb["CertificateArn"] == {"Ref": "CertificateArn"}


def _aligned_private(value: str) -> bool:
    try:
        network = ipaddress.IPv4Network(value)  # strict: refuses host bits
    except ValueError:
        return False
    return (
        network.is_private
        and 16 <= network.prefixlen <= 19
        and any(
            network.subnet_of(ipaddress.IPv4Network(r))
            for r in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
        )
    )


def test_vpc_cidr_pattern_accepts_exactly_the_aligned_private_blocks() -> None:
    candidates = [
        f"{a}.{b}.{c}.{d}/{p}"
        for a in (10, 100, 172, 192, 300)
        for b in (0, 1, 15, 16, 31, 32, 168, 255, 300)
        for c in (0, 1, 32, 64, 96, 128, 200, 224, 256)
        for d in (0, 1)
        for p in (15, 16, 17, 18, 19, 20)
    ]
    for value in candidates:
        assert bool(re.fullmatch(VPC_CIDR_PATTERN, value)) == _aligned_private(value), value
    for bad in ("10.300.0.0/16", "172.0.0.0/16", "192.0.0.0/16", "8.8.0.0/16", "10.0.1.0/16"):
        assert not re.fullmatch(VPC_CIDR_PATTERN, bad), bad


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
def test_create_only_network_parameters_say_so(parent: str, request: pytest.FixtureRequest) -> None:
    params = request.getfixturevalue(parent)["Parameters"]
    for name in ("VpcCidr", "ExistingVpcId"):
        assert "Create-only" in params[name]["Description"], name


def test_no_template_lets_the_customer_set_the_marketplace_product_code(
    all_templates: dict[str, Doc],
) -> None:
    for name, template in all_templates.items():
        for parameter in template.get("Parameters", {}):
            assert "productcode" not in parameter.lower().replace("_", ""), (name, parameter)
    # Nothing refers to such a parameter either: the code is a literal or absent.
    for node in walk(all_templates["ecs"]):
        if isinstance(node, dict) and node.get("Name") == "MARKETPLACE_PRODUCT_CODE":
            assert isinstance(node["Value"], str)


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
def test_outputs_say_where_to_fetch_the_api_token(
    parent: str, request: pytest.FixtureRequest
) -> None:
    outputs = request.getfixturevalue(parent)["Outputs"]
    secret = {"Fn::GetAtt": ["EcsStack", "Outputs.AppSecretArn"]}
    assert outputs["AppSecretArn"]["Value"] == secret
    assert "Bearer" in outputs["AppSecretArn"]["Description"]
    command = outputs["ApiTokenCommand"]["Value"]["Fn::Sub"]
    assert command == [
        "aws secretsmanager get-secret-value --region ${AWS::Region} --secret-id ${Secret} "
        "--query SecretString --output text",
        {"Secret": secret},
    ]


def test_the_trials_url_is_cloudfronts_https_address_unless_a_certificate_is_given(
    quickstart_t: Doc, production_t: Doc
) -> None:
    assert quickstart_t["Outputs"]["ServiceUrl"]["Value"] == {
        "Fn::If": [
            "BehindCloudFront",
            {"Fn::GetAtt": ["CloudfrontStack", "Outputs.ServiceUrl"]},
            {"Fn::GetAtt": ["AlbStack", "Outputs.ServiceUrl"]},
        ]
    }
    assert production_t["Outputs"]["ServiceUrl"]["Value"] == {
        "Fn::GetAtt": ["AlbStack", "Outputs.ServiceUrl"]
    }


def test_a_narrower_ingress_cidr_without_a_certificate_is_refused_not_ignored(
    quickstart_t: Doc,
) -> None:
    rule = quickstart_t["Rules"]["IngressCidrNeedsCertificate"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "IngressCidr"}, "0.0.0.0/0"]}


def test_every_child_output_says_what_it_is(children: dict[str, Doc]) -> None:
    # A child's outputs are half its interface: the console lists them with their
    # descriptions, and a reader of the parent's wiring meets them there first.
    missing = [
        f"{name}.{output}"
        for name, child in children.items()
        for output, body in child["Outputs"].items()
        if not str(body.get("Description", "")).strip()
    ]
    assert missing == []


#: One parent value that feeds several children, each labelling it for its own use
#: (service, flow and access logs): the type and values are add_retention's, shared.
FANNED_OUT = {"LogRetentionDays"}


def _definition(template: Doc, name: str) -> dict[str, object]:
    """What a parameter accepts and how the console labels it, optional or not."""
    parameter = template["Parameters"][name]
    labels = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]
    pattern = parameter.get("AllowedPattern")
    if pattern is not None and pattern.startswith("^(|"):
        pattern = "^(" + pattern.removeprefix("^(|")
    elif pattern is not None:
        pattern = f"^({pattern.removeprefix('^').removesuffix('$')})$"
    constraint = parameter.get("ConstraintDescription")
    return {
        "Type": parameter["Type"],
        "AllowedPattern": pattern,
        "ConstraintDescription": constraint and constraint.removeprefix("empty, or "),
        "AllowedValues": parameter.get("AllowedValues"),
        "MinValue": parameter.get("MinValue"),
        "MaxValue": parameter.get("MaxValue"),
        "label": labels[name]["default"],
    }


@pytest.mark.parametrize("parent", ["quickstart_t", "production_t"])
def test_a_value_the_parent_passes_on_is_defined_as_the_child_defines_it(
    parent: str, children: dict[str, Doc], request: pytest.FixtureRequest
) -> None:
    # Declared from the child's ParameterSpec: the console cannot accept what the child
    # then refuses (a failed nested create, with the other stacks already building).
    template = request.getfixturevalue(parent)
    compared = 0
    for title, stack in resources(template).items():
        child = children[STACK_FILES[title]]
        for child_name, value in props(stack)["Parameters"].items():
            name = value.get("Ref") if isinstance(value, dict) else None
            if (
                not isinstance(name, str)
                or name not in template["Parameters"]
                or name in FANNED_OUT
            ):
                continue
            assert _definition(template, name) == _definition(child, child_name), (title, name)
            compared += 1
    assert compared >= 12
