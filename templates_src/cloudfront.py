"""HTTPS for the trial without a domain: Amazon CloudFront in front of the load balancer.

The quickstart nests this stack when no certificate is given. The distribution serves
HTTPS with CloudFront's own ``*.cloudfront.net`` certificate, caches nothing and forwards
every method, header (Authorization included), cookie and query string to the load
balancer over HTTP. The load balancer answers only CloudFront, twice over:

- its security group admits port 80 from the AWS-managed prefix list of CloudFront's
  origin-facing servers only (looked up by name: the id differs per region);
- its HTTP listener answers 403 by default, and forwards to the tasks only requests that
  carry the origin header whose value is a secret generated here in Secrets Manager, which
  only the distribution sends (a CloudFront distribution of another account, also inside
  the prefix list, does not know it).

With a certificate, the load balancer serves HTTPS itself (alb.py) and this stack is not
created. Every resource of CloudFront itself is global; the lookup, secret, key, rule and
function are regional, in the stack's own region.
"""

from __future__ import annotations

from awacs import ec2 as ec2_actions
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Output, Ref, Sub, Template
from troposphere.cloudfront import (
    CustomOriginConfig,
    DefaultCacheBehavior,
    Distribution,
    DistributionConfig,
    Origin,
    OriginCustomHeader,
    ViewerCertificate,
)
from troposphere.ec2 import SecurityGroupIngress
from troposphere.elasticloadbalancingv2 import (
    Condition,
    HttpHeaderConfig,
    ListenerRule,
    ListenerRuleAction,
)
from troposphere.secretsmanager import GenerateSecretString, Secret

from templates_src import stack_helper
from templates_src.boundary import add_permissions_boundary
from templates_src.params import add_parameter, add_retention
from templates_src.security import customer_managed_key, name_tags, scanner_skips, wildcard_reason
from templates_src.stack_helper import add_stack_helper, custom_resource
from templates_src.update_safety import DISPOSABLE

PARAM_LOAD_BALANCER_DNS_NAME = "LoadBalancerDnsName"
PARAM_LB_SECURITY_GROUP = "LoadBalancerSecurityGroupId"
PARAM_LISTENER = "HttpListenerArn"
PARAM_TARGET_GROUP = "TargetGroupArn"
PARAM_LOG_RETENTION = "LogRetentionDays"

OUTPUT_SERVICE_URL = "ServiceUrl"
OUTPUT_DOMAIN_NAME = "DistributionDomainName"
OUTPUT_DISTRIBUTION_ID = "DistributionId"

GROUP = "CloudFront"
ORIGIN_ID = "load-balancer"
#: The header CloudFront adds to every origin request; the listener rule checks its value.
ORIGIN_HEADER = "X-Origin-Verify"
#: Letters and digits only: ALB condition values treat * and ? as wildcards, and take at
#: most 128 characters ("Listener rules for your Application Load Balancer", HTTP header
#: conditions: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html).
ORIGIN_SECRET_LENGTH = 64
HTTP_PORT = 80
#: The forwarding rule's priority (the only rule on the listener).
RULE_PRIORITY = 1

# AWS-managed policies: their IDs are the same in every account and region.
# "Use managed cache policies", CachingDisabled:
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# "Use managed origin request policies", AllViewerExceptHostHeader: every viewer header
# but Host (the load balancer's own name reaches it), all cookies and query strings. With
# caching disabled it forwards Authorization too ("How do I configure CloudFront to forward
# the Authorization header to the origin?", https://repost.aws/knowledge-center/cloudfront-authorization-header):
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# "Use managed response headers policies", SecurityHeadersPolicy (HSTS, nosniff,
# frame options, referrer policy, XSS protection):
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]

DEFAULT_CERTIFICATE_REASON = (
    "The trial has no domain: it uses CloudFront's *.cloudfront.net certificate, for which "
    "CloudFront fixes the minimum protocol (MinimumProtocolVersion applies to custom "
    "certificates only). Give CertificateArn for TLS 1.2+ on your own domain."
)
NO_WAF_REASON = (
    "A web ACL costs a monthly fee the one-click trial does not carry; the API requires a "
    "bearer token, and the production stack is where a WAF belongs."
)
NO_ACCESS_LOG_REASON = (
    "Every request CloudFront forwards reaches the load balancer, whose access logs record "
    "it with the viewer's address (X-Forwarded-For); standard logging would need a second, "
    "ACL-enabled bucket."
)
DISPOSABLE_KEY = "It encrypts only this stack's generated origin secret and helper logs."


def build_cloudfront_stack() -> Template:
    """The nested CloudFront template (the quickstart's, when it has no certificate)."""
    t = Template(
        Description=(
            "Cloud Optimizer trial edge: CloudFront distribution (HTTPS on *.cloudfront.net, "
            "no caching) in front of the load balancer, which admits CloudFront only."
        )
    )
    _add_parameters(t)
    key = t.add_resource(
        customer_managed_key("OriginKey", "Cloud Optimizer origin secret and helper logs")
    )
    # This stack's data is regenerated with it: adding a certificate to the trial deletes the
    # stack, and nothing is lost (templates_src/update_safety.py reads the marker).
    key.Metadata = {**key.Metadata, DISPOSABLE: DISPOSABLE_KEY}
    secret = t.add_resource(
        Secret(
            "OriginSecret",
            Description="Cloud Optimizer: the header value CloudFront sends the load balancer",
            KmsKeyId=Ref(key),
            GenerateSecretString=GenerateSecretString(
                PasswordLength=ORIGIN_SECRET_LENGTH, ExcludePunctuation=True
            ),
            Metadata={
                DISPOSABLE: "Generated; the distribution and the rule that use it go with it."
            },
            Tags=name_tags("origin-secret"),
        )
    )
    # A dynamic reference: resolved by CloudFormation, never stored in the template
    # ("Get a secret or secret value from Secrets Manager": usable in all resource
    # properties, https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html).
    secret_value = Sub(f"{{{{resolve:secretsmanager:${{{secret.title}}}:SecretString}}}}")
    _add_origin_access(t, key, secret_value)
    distribution = _add_distribution(t, secret_value)

    domain = GetAtt(distribution, "DomainName")
    t.add_output(
        Output(
            OUTPUT_SERVICE_URL,
            Value=Sub("https://${D}", D=domain),
            Description="Where the service answers (HTTPS)",
        )
    )
    t.add_output(
        Output(
            OUTPUT_DOMAIN_NAME,
            Value=domain,
            Description="The distribution's *.cloudfront.net name",
        )
    )
    t.add_output(
        Output(
            OUTPUT_DISTRIBUTION_ID,
            Value=Ref(distribution),
            Description="The CloudFront distribution",
        )
    )
    add_permissions_boundary(t, group=GROUP)  # last: it bounds every role added above
    return t


def _add_parameters(t: Template) -> None:
    add_parameter(
        t,
        PARAM_LOAD_BALANCER_DNS_NAME,
        group=GROUP,
        label="Load balancer DNS name",
        Type="String",
        AllowedPattern=r"^[A-Za-z0-9.-]+$",
        Description="The distribution's origin.",
    )
    add_parameter(
        t,
        PARAM_LB_SECURITY_GROUP,
        group=GROUP,
        label="Load balancer security group",
        Type="AWS::EC2::SecurityGroup::Id",
        Description="Gets the rule that admits CloudFront's origin-facing servers on port 80.",
    )
    add_parameter(
        t,
        PARAM_LISTENER,
        group=GROUP,
        label="HTTP listener ARN",
        Type="String",
        AllowedPattern=r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/app/.+$",
        Description="The load balancer's port 80 listener (403 unless the origin header matches).",
    )
    add_parameter(
        t,
        PARAM_TARGET_GROUP,
        group=GROUP,
        label="Target group ARN",
        Type="String",
        AllowedPattern=r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/.+$",
        Description="Where requests from CloudFront go.",
    )
    add_retention(
        t,
        PARAM_LOG_RETENTION,
        group=GROUP,
        label="Log retention (days)",
        description="How long the stack helper's logs are kept.",
    )


def _add_origin_access(t: Template, key: object, secret_value: Sub) -> None:
    """The prefix-list rule on the load balancer's group and the header-checking rule."""
    helper = add_stack_helper(
        t,
        kinds=("OriginFacingPrefixList",),
        key_arn=GetAtt(key, "Arn"),
        retention_days=Ref(PARAM_LOG_RETENTION),
        statements=[
            Statement(
                Sid="FindCloudFrontsPrefixList",
                Effect=Allow,
                Action=[ec2_actions.DescribeManagedPrefixLists],
                Resource=["*"],
            )
        ],
    )
    t.resources[stack_helper.LOG_GROUP].Metadata = {
        DISPOSABLE: "One line per lookup of AWS's prefix list id; nothing to keep."
    }
    t.resources[stack_helper.ROLE].Metadata = wildcard_reason(
        "ec2:DescribeManagedPrefixLists has no resource-level permissions: the API requires "
        'Resource "*". It only reads.'
    )
    prefix_list = t.add_resource(
        custom_resource("CloudFrontPrefixList", "OriginFacingPrefixList", helper, {})
    )
    # The list's weight (its maximum entries, 55 for CloudFront's IPv4 list) counts against
    # the group's quota of 60 inbound rules; this is the group's only inbound rule without a
    # certificate ("AWS-managed prefix list weight",
    # https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html#aws-managed-prefix-list-weights,
    # and "Amazon VPC quotas", security groups:
    # https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups).
    t.add_resource(
        SecurityGroupIngress(
            "LoadBalancerIngressFromCloudFront",
            GroupId=Ref(PARAM_LB_SECURITY_GROUP),
            IpProtocol="tcp",
            FromPort=HTTP_PORT,
            ToPort=HTTP_PORT,
            SourcePrefixListId=Ref(prefix_list),
            Description="HTTP from CloudFront's origin-facing servers only",
        )
    )
    t.add_resource(
        ListenerRule(
            "ForwardFromCloudFront",
            ListenerArn=Ref(PARAM_LISTENER),
            Priority=RULE_PRIORITY,
            Conditions=[
                Condition(
                    Field="http-header",
                    HttpHeaderConfig=HttpHeaderConfig(
                        HttpHeaderName=ORIGIN_HEADER, Values=[secret_value]
                    ),
                )
            ],
            Actions=[ListenerRuleAction(Type="forward", TargetGroupArn=Ref(PARAM_TARGET_GROUP))],
        )
    )


def _add_distribution(t: Template, secret_value: Sub) -> Distribution:
    return t.add_resource(
        Distribution(
            "Distribution",
            DistributionConfig=DistributionConfig(
                Enabled=True,
                Comment=Sub("Cloud Optimizer ${AWS::StackName}"),
                HttpVersion="http2and3",
                PriceClass="PriceClass_100",
                Origins=[
                    Origin(
                        Id=ORIGIN_ID,
                        DomainName=Ref(PARAM_LOAD_BALANCER_DNS_NAME),
                        CustomOriginConfig=CustomOriginConfig(
                            OriginProtocolPolicy="http-only", HTTPPort=HTTP_PORT
                        ),
                        OriginCustomHeaders=[
                            OriginCustomHeader(HeaderName=ORIGIN_HEADER, HeaderValue=secret_value)
                        ],
                    )
                ],
                DefaultCacheBehavior=DefaultCacheBehavior(
                    TargetOriginId=ORIGIN_ID,
                    ViewerProtocolPolicy="redirect-to-https",
                    AllowedMethods=ALL_METHODS,
                    CachedMethods=["GET", "HEAD"],
                    CachePolicyId=CACHING_DISABLED,
                    OriginRequestPolicyId=ALL_VIEWER_EXCEPT_HOST_HEADER,
                    ResponseHeadersPolicyId=SECURITY_HEADERS,
                    Compress=True,
                ),
                ViewerCertificate=ViewerCertificate(CloudFrontDefaultCertificate=True),
            ),
            Metadata=scanner_skips(
                checkov=[
                    ("CKV_AWS_174", DEFAULT_CERTIFICATE_REASON),
                    ("CKV_AWS_68", NO_WAF_REASON),
                    ("CKV_AWS_86", NO_ACCESS_LOG_REASON),
                ],
                trivy=[
                    ("AVD-AWS-0010", NO_ACCESS_LOG_REASON),
                    ("AVD-AWS-0011", NO_WAF_REASON),
                    ("AVD-AWS-0013", DEFAULT_CERTIFICATE_REASON),
                ],
            ),
            Tags=name_tags("cdn"),
        )
    )
