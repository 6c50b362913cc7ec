"""Optional parts of the ALB stack (issue 15): WAF web ACL, custom domain record.

Each adds its parameter, condition and resources to the ALB template, off by default
(an empty parameter), so that :mod:`templates_src.alb` keeps to the load balancer itself.
"""

from __future__ import annotations

from troposphere import AWSObject, Equals, Not, Ref, Template
from troposphere.wafv2 import WebACLAssociation

from templates_src.params import add_parameter

PARAM_WEB_ACL = "WebAclArn"
HAS_WEB_ACL = "HasWebAcl"
#: A regional AWS WAF (v2) web ACL: arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID.
WEB_ACL_ARN = (
    r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[0-9a-f-]{36}"
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
    add_parameter(
        t,
        PARAM_WEB_ACL,
        group=group,
        label="AWS WAF web ACL ARN (optional)",
        Type="String",
        Default="",
        AllowedPattern=f"^(|{WEB_ACL_ARN})$",
        ConstraintDescription="empty, or the ARN of a regional AWS WAF web ACL in this region",
        Description="A regional AWS WAF web ACL to protect the load balancer with.",
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
