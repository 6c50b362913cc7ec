"""Optional parts of the ALB stack (issue 15): WAF web ACL, custom domain record.

Each adds its parameter, condition and resources to the ALB template, off by default
(an empty parameter), so that :mod:`templates_src.alb` keeps to the load balancer itself.
"""

from __future__ import annotations

from troposphere import AWSObject, Equals, GetAtt, Not, Ref, Template
from troposphere.route53 import AliasTarget, RecordSetType
from troposphere.wafv2 import WebACLAssociation

from templates_src.params import ParameterSpec

PARAM_WEB_ACL = "WebAclArn"
PARAM_HOSTED_ZONE = "HostedZoneId"
HAS_HOSTED_ZONE = "HasHostedZone"
#: Route 53 ResourceId: up to 32 upper-case letters and digits (AWS issues them starting Z).
HOSTED_ZONE_ID = r"[A-Z0-9]{1,32}"
HAS_WEB_ACL = "HasWebAcl"
#: A regional AWS WAF (v2) web ACL: arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID.
WEB_ACL_ARN = (
    r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]{36}"
)
# What the production parent asks the customer for, declared here once (ParameterSpec);
# both are optional: empty leaves the part out.
WEB_ACL_PARAMETER = ParameterSpec(
    PARAM_WEB_ACL,
    label="AWS WAF web ACL ARN (optional)",
    pattern=WEB_ACL_ARN,
    what="the ARN of a regional AWS WAF web ACL in this region",
)
HOSTED_ZONE_PARAMETER = ParameterSpec(
    PARAM_HOSTED_ZONE,
    label="Route 53 hosted zone id (optional)",
    pattern=HOSTED_ZONE_ID,
    what="a hosted zone id such as Z0123456789ABCDEFGHIJ",
)


def add_web_acl(t: Template, load_balancer: AWSObject, *, group: str) -> None:
    """Associate the customer's web ACL with the load balancer, when one is given.

    An Application Load Balancer takes a *regional* web ACL of its own region; a global
    (CloudFront) one is refused, which the pattern's ``regional/`` rules out ("AWS::WAFv2::
    WebACLAssociation", ResourceArn and WebACLArn:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-wafv2-webaclassociation.html).
    CloudFormation creates the association with its own credentials, which need
    wafv2:AssociateWebACL and elasticloadbalancing:SetWebACL ("Permissions to associate a
    web ACL", AWS WAF Developer Guide:
    https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-associating-aws-resource.html).
    """
    WEB_ACL_PARAMETER.add(
        t,
        group=group,
        optional=True,
        description="A regional AWS WAF web ACL to protect the load balancer with.",
    )
    t.add_condition(HAS_WEB_ACL, Not(Equals(Ref(PARAM_WEB_ACL), "")))
    t.add_resource(
        WebACLAssociation(
            "WebAclAssociation",
            Condition=HAS_WEB_ACL,
            ResourceArn=Ref(load_balancer),
            WebACLArn=Ref(PARAM_WEB_ACL),
        )
    )


def add_dns_record(t: Template, load_balancer: AWSObject, domain_name: str, *, group: str) -> None:
    """An alias A record ``domain_name`` -> the load balancer, in the given hosted zone.

    An alias to an ELB load balancer names the load balancer's own hosted zone
    (``CanonicalHostedZoneID``) and costs no queries; EvaluateTargetHealth answers from
    the load balancer's health ("Routing traffic to an ELB load balancer", Route 53
    Developer Guide: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-to-elb-load-balancer.html).
    A private hosted zone suits an internal load balancer.
    """
    HOSTED_ZONE_PARAMETER.add(
        t,
        group=group,
        optional=True,
        description="The zone in which the domain name's alias record is created.",
    )
    t.add_condition(HAS_HOSTED_ZONE, Not(Equals(Ref(PARAM_HOSTED_ZONE), "")))
    t.add_resource(
        RecordSetType(
            "DomainAliasRecord",
            Condition=HAS_HOSTED_ZONE,
            HostedZoneId=Ref(PARAM_HOSTED_ZONE),
            Name=Ref(domain_name),
            Type="A",
            AliasTarget=AliasTarget(
                DNSName=GetAtt(load_balancer, "DNSName"),
                HostedZoneId=GetAtt(load_balancer, "CanonicalHostedZoneID"),
                EvaluateTargetHealth=True,
            ),
        )
    )
