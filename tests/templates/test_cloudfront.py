"""The trial's CloudFront stack: HTTPS on *.cloudfront.net, no cache, the ALB admits it alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.ec2.models import ec2_backends

from templates_src import cloudfront, regions
from templates_src import stack_helper_code as code
from templates_src.cloudfront import (
    ALL_VIEWER_EXCEPT_HOST_HEADER,
    CACHING_DISABLED,
    ORIGIN_HEADER,
    SECURITY_HEADERS,
)
from templates_src.intrinsics import Context, Symbol, resolve
from tests.e2e.moto_aws_gaps import fill_gaps
from tests.support.aws import emulator_session
from tests.templates.cfn import Doc, one, props, resources
from tests.templates.iam import Request, allowed, iam_condition_operators, role_statements

SECRET_REFERENCE = {"Fn::Sub": "{{resolve:secretsmanager:${OriginSecret}:SecretString}}"}


def _config(cloudfront_t: Doc) -> Doc:
    _, distribution = one(cloudfront_t, "AWS::CloudFront::Distribution")
    config: Doc = props(distribution)["DistributionConfig"]
    return config


def test_viewers_get_https_on_the_default_certificate_and_http_redirects(cloudfront_t: Doc) -> None:
    config = _config(cloudfront_t)
    assert config["Enabled"] is True
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    assert "Aliases" not in config  # no domain: the *.cloudfront.net name
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    url = cloudfront_t["Outputs"]["ServiceUrl"]["Value"]
    assert url == {
        "Fn::Sub": ["https://${D}", {"D": {"Fn::GetAtt": ["Distribution", "DomainName"]}}]
    }


def test_nothing_is_cached_and_every_method_header_and_token_is_forwarded(
    cloudfront_t: Doc,
) -> None:
    behavior = _config(cloudfront_t)["DefaultCacheBehavior"]
    # AWS-global IDs of the managed policies (cited in templates_src/cloudfront.py).
    assert CACHING_DISABLED == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert ALL_VIEWER_EXCEPT_HOST_HEADER == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert SECURITY_HEADERS == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert behavior["ResponseHeadersPolicyId"] == SECURITY_HEADERS
    assert set(behavior["AllowedMethods"]) == {
        "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE",
    }  # fmt: skip
    # No legacy cache settings beside the policies (CloudFront refuses both at once).
    assert not {"ForwardedValues", "DefaultTTL", "MaxTTL", "MinTTL"} & set(behavior)


def test_the_origin_is_the_load_balancer_over_http_with_the_secret_header(
    cloudfront_t: Doc,
) -> None:
    (origin,) = _config(cloudfront_t)["Origins"]
    assert origin["DomainName"] == {"Ref": "LoadBalancerDnsName"}
    assert origin["CustomOriginConfig"] == {"OriginProtocolPolicy": "http-only", "HTTPPort": 80}
    assert origin["OriginCustomHeaders"] == [
        {"HeaderName": ORIGIN_HEADER, "HeaderValue": SECRET_REFERENCE}
    ]
    assert _config(cloudfront_t)["DefaultCacheBehavior"]["TargetOriginId"] == origin["Id"]


def test_the_origin_secret_is_generated_encrypted_and_never_in_the_template(
    cloudfront_t: Doc,
) -> None:
    secret = props(resources(cloudfront_t)["OriginSecret"])
    assert secret["KmsKeyId"] == {"Ref": "OriginKey"}
    generated = secret["GenerateSecretString"]
    # ALB condition values: at most 128 characters, and * and ? are wildcards.
    assert generated == {"PasswordLength": 64, "ExcludePunctuation": True}
    assert cloudfront.ORIGIN_SECRET_LENGTH <= 128


def test_the_listener_forwards_only_requests_carrying_the_secret_header(
    cloudfront_t: Doc, alb_t: Doc
) -> None:
    _, rule = one(cloudfront_t, "AWS::ElasticLoadBalancingV2::ListenerRule")
    p = props(rule)
    assert p["ListenerArn"] == {"Ref": "HttpListenerArn"}
    assert p["Conditions"] == [
        {
            "Field": "http-header",
            "HttpHeaderConfig": {"HttpHeaderName": ORIGIN_HEADER, "Values": [SECRET_REFERENCE]},
        }
    ]
    assert p["Actions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroupArn"}}]
    # Everything else meets the listener's default: 403.
    default = props(resources(alb_t)["HttpListener"])["DefaultActions"]
    assert default[0]["FixedResponseConfig"]["StatusCode"] == "403"


def test_the_load_balancer_admits_cloudfronts_origin_facing_servers_on_80_only(
    cloudfront_t: Doc,
) -> None:
    rule = props(resources(cloudfront_t)["LoadBalancerIngressFromCloudFront"])
    assert rule["GroupId"] == {"Ref": "LoadBalancerSecurityGroupId"}
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 80, 80)
    assert rule["SourcePrefixListId"] == {"Ref": "CloudFrontPrefixList"}
    assert "CidrIp" not in rule
    lookup = resources(cloudfront_t)["CloudFrontPrefixList"]
    assert lookup["Type"] == "Custom::OriginFacingPrefixList"


@pytest.fixture
def _iam_operators() -> Iterator[None]:
    with iam_condition_operators():
        yield


@pytest.mark.usefixtures("_iam_operators")
def test_the_helper_may_only_read_prefix_lists_and_write_its_own_logs(cloudfront_t: Doc) -> None:
    stack = "co-CloudfrontStack-1ABC"
    context = Context(
        cloudfront_t,
        {"LogRetentionDays": "365"},
        stack_name=stack,
        resource_value=lambda logical_id, attribute: Symbol(("res", logical_id, attribute)),
    )
    role = resolve(props(resources(cloudfront_t)["StackHelperRole"]), context)
    statements = role_statements(role)
    assert allowed(statements, Request("ec2:DescribeManagedPrefixLists", "*"))
    own = (
        f"arn:aws:logs:us-east-1:123456789012:log-group:/cloud-optimizer/{stack}/"
        "stack-helper:log-stream:2026/12/02/[$LATEST]abc"
    )
    assert allowed(statements, Request("logs:PutLogEvents", own))
    for action, resource in (
        ("ec2:ModifyManagedPrefixList", "*"),
        ("ec2:AuthorizeSecurityGroupIngress", "*"),
        ("secretsmanager:GetSecretValue", "*"),
        ("logs:PutLogEvents", own.replace(stack, "another")),
    ):
        assert not allowed(statements, Request(action, resource)), action


@pytest.fixture
def emulator(aws: str) -> Iterator[str]:
    with fill_gaps():
        yield aws


def _lookup(request: str) -> str | None:
    event = {"RequestType": request, "ResourceType": "Custom::OriginFacingPrefixList"}
    return code.origin_facing_prefix_list(event, {})


def test_the_prefix_list_is_found_by_name_in_every_supported_region(
    emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = {}
    for region in regions.REGIONS:
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
        prefix_list = _lookup("Create")
        assert prefix_list is not None, region
        assert prefix_list.startswith("pl-"), region
        ec2 = emulator_session(emulator, region).client("ec2")
        (described,) = ec2.describe_managed_prefix_lists(PrefixListIds=[prefix_list])["PrefixLists"]
        assert described["PrefixListName"] == "com.amazonaws.global.cloudfront.origin-facing"
        assert described["OwnerId"] == "AWS"
        found[region] = prefix_list
    assert len(found) == len(regions.REGIONS) == 32
    assert _lookup("Delete") is None  # AWS's list is never ours to delete


def test_a_region_without_the_prefix_list_fails_the_lookup_with_its_name(
    emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    # The emulator runs in this process: take AWS's list out of its region, as a region
    # that lacks it would answer.
    backend = ec2_backends["123456789012"]["eu-west-1"]
    for list_id, prefix_list in list(backend.managed_prefix_lists.items()):
        if prefix_list.prefix_list_name == "com.amazonaws.global.cloudfront.origin-facing":
            del backend.managed_prefix_lists[list_id]
    with pytest.raises(code.Refused, match=r"no managed prefix list com\.amazonaws\.global"):
        _lookup("Create")
