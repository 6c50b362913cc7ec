"""Properties every generated template keeps: labels, descriptions, least privilege."""

from __future__ import annotations

import json
import re

import pytest

from tests.templates.cfn import (
    Doc,
    as_list,
    policy_statements,
    props,
    resources,
    security_group_rules,
    walk,
)

TEMPLATES = ["vpc", "nat", "alb", "rds", "ecs", "cloudfront", "quickstart", "production"]
SENSITIVE = re.compile(r"password|secret|token|private.?key", re.IGNORECASE)


@pytest.fixture(params=TEMPLATES)
def template(request: pytest.FixtureRequest, all_templates: dict[str, Doc]) -> Doc:
    return all_templates[request.param]


def test_every_parameter_has_a_label_a_group_and_a_constraint(template: Doc) -> None:
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for g in interface["ParameterGroups"] for p in g["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])
    assert set(interface["ParameterLabels"]) == set(template["Parameters"])
    for name, parameter in template["Parameters"].items():
        typed = (
            parameter["Type"] != "String"
            or "AllowedPattern" in parameter
            or "AllowedValues" in parameter
        )
        assert typed, f"{name} accepts any string"
        assert parameter.get("Description"), name


def test_sensitive_parameters_are_no_echo(template: Doc) -> None:
    for name, parameter in template["Parameters"].items():
        # An ARN names a secret, an endpoint is a URL (OidcTokenEndpoint): neither is one.
        if SENSITIVE.search(name) and not name.endswith(("Arn", "Endpoint")):
            assert parameter.get("NoEcho") is True, name


def test_every_security_group_rule_has_a_description(template: Doc) -> None:
    for title, direction, rule in security_group_rules(template):
        assert rule.get("Description"), f"{title} {direction} rule without description"


def test_nothing_opens_ssh_rdp_or_the_database_to_the_internet(template: Doc) -> None:
    for title, direction, rule in security_group_rules(template):
        if direction != "ingress":
            continue
        low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
        if isinstance(low, int) and isinstance(high, int):
            assert not low <= 22 <= high, title
            assert not low <= 3389 <= high, title
        if "CidrIp" in rule and title == "EndpointSecurityGroup":
            # The interface endpoints take HTTPS from their own VPC's range only.
            assert (low, high, rule["CidrIp"]) == (443, 443, {"Ref": "VpcCidr"}), title
        elif "CidrIp" in rule:
            # Only the load balancer takes traffic from a CIDR, and only on 80/443.
            assert title.startswith("LoadBalancer"), title
            assert (low, high) in {(80, 80), (443, 443)}, title


def test_no_wildcard_actions_and_wildcard_resources_only_with_a_reason(template: Doc) -> None:
    for title, statement in policy_statements(template):
        if statement["Effect"] != "Allow":
            continue
        for action in as_list(statement.get("Action", [])):
            assert "*" not in action, f"{title}: wildcard action {action}"
        if "*" in as_list(statement.get("Resource", [])):
            reason = resources(template)[title].get("Metadata", {}).get("WildcardResource")
            assert reason, f"{title}: Resource '*' without Metadata.WildcardResource"


def test_keys_rotate_and_log_groups_are_encrypted_with_retention(template: Doc) -> None:
    for key in resources(template, "AWS::KMS::Key").values():
        assert props(key)["EnableKeyRotation"] is True
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert "KmsKeyId" in props(group)
        assert "RetentionInDays" in props(group)


def test_scanner_suppressions_carry_a_reason(template: Doc) -> None:
    for title, resource in resources(template).items():
        metadata = resource.get("Metadata", {})
        for entry in metadata.get("checkov", {}).get("skip", []):
            assert len(entry["comment"]) > 20, f"{title} {entry['id']}"
        for entry in metadata.get("trivy", {}).get("ignore", []):
            assert len(entry["reason"]) > 20, f"{title} {entry['id']}"


def test_no_literal_secret_values_anywhere(template: Doc) -> None:
    for node in walk(template):
        if isinstance(node, dict):
            assert "MasterUserPassword" not in node
            assert "NoEcho" not in node or node["NoEcho"] is True


def test_arns_follow_the_partition_never_a_literal_arn_aws(template: Doc) -> None:
    # A literal "arn:aws:" breaks in any other partition; ${AWS::Partition} does not.
    # (Patterns that *accept* ARNs use arn:aws[a-z-]* and are not ARNs themselves.)
    for title, resource in resources(template).items():
        assert "arn:aws:" not in json.dumps(resource), title


def test_key_grants_are_only_for_aws_resources(template: Doc) -> None:
    for title, key in resources(template, "AWS::KMS::Key").items():
        for statement in props(key)["KeyPolicy"]["Statement"]:
            if "kms:CreateGrant" in as_list(statement["Action"]):
                assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}, (
                    title
                )


def test_logs_key_statement_is_the_documented_one(template: Doc) -> None:
    for key in resources(template, "AWS::KMS::Key").values():
        (logs,) = [
            s
            for s in props(key)["KeyPolicy"]["Statement"]
            if s["Sid"] == "CloudWatchLogsEncryption"
        ]
        assert logs["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
        assert list(logs["Condition"]) == ["ArnLike"]
        assert list(logs["Condition"]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"]
