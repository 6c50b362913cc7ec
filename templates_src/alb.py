"""The internet edge: Application Load Balancer, its access-log bucket, its options.

The load balancer in the public subnets (or the private ones, internal), with its
listeners, target group and access logs; the production options that belong to it
(:mod:`templates_src.edge`, :mod:`templates_src.sso`), and the interface VPC endpoints
of a VPC without NAT (:mod:`templates_src.endpoints`). The NAT gateways are the
network's: :mod:`templates_src.nat`.
"""

from __future__ import annotations

from typing import Any

from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
)
from troposphere import (
    And,
    Equals,
    FindInMap,
    GetAtt,
    If,
    Not,
    NoValue,
    Or,
    Output,
    Ref,
    Region,
    Sub,
    Template,
    encode_to_dict,
)
from troposphere.ec2 import SecurityGroup, SecurityGroupIngress
from troposphere.elasticloadbalancingv2 import (
    Action,
    Certificate,
    FixedResponseConfig,
    Listener,
    LoadBalancer,
    LoadBalancerAttributes,
    Matcher,
    RedirectConfig,
    TargetGroup,
    TargetGroupAttribute,
)
from troposphere.s3 import (
    AbortIncompleteMultipartUpload,
    Bucket,
    BucketEncryption,
    BucketPolicy,
    LifecycleConfiguration,
    LifecycleRule,
    NoncurrentVersionExpiration,
    OwnershipControls,
    OwnershipControlsRule,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from service import contract
from templates_src import allow_list, edge, endpoints, sso
from templates_src.params import (
    ACM_CERTIFICATE_ARN,
    CIDR_PATTERN,
    DOMAIN_NAME,
    ParameterSpec,
    add_optional_parameter,
    add_parameter,
    add_retention,
)
from templates_src.regions import ELB_ACCOUNTS
from templates_src.security import name_tags, no_egress, scanner_skips

PARAM_VPC_ID = "VpcId"
PARAM_PUBLIC_SUBNETS = "PublicSubnetIds"
PARAM_PRIVATE_SUBNETS = "PrivateSubnetIds"
PARAM_SCHEME = "Scheme"
PARAM_CERTIFICATE = "CertificateArn"
PARAM_DOMAIN_NAME = "DomainName"
PARAM_INGRESS_CIDR = "IngressCidr"
PARAM_ACCESS_LOG_RETENTION = "AccessLogRetentionDays"
INTERNET_FACING, INTERNAL = "internet-facing", "internal"
# What the parents ask the customer for, declared here once (ParameterSpec).
SCHEME_PARAMETER = ParameterSpec(
    PARAM_SCHEME, label="Load balancer scheme", allowed=(INTERNET_FACING, INTERNAL)
)
CERTIFICATE_PARAMETER = ParameterSpec(
    PARAM_CERTIFICATE,
    label="ACM certificate ARN",
    pattern=ACM_CERTIFICATE_ARN,
    what="the ARN of an ACM certificate in this region",
)
DOMAIN_NAME_PARAMETER = ParameterSpec(
    PARAM_DOMAIN_NAME,
    label="Domain name",
    pattern=DOMAIN_NAME,
    what="the DNS name the certificate is for, e.g. co.example.com",
)

OUTPUT_DNS_NAME = "LoadBalancerDnsName"
OUTPUT_SERVICE_URL = "ServiceUrl"
OUTPUT_SECURITY_GROUP = "LoadBalancerSecurityGroupId"
OUTPUT_TARGET_GROUP = "TargetGroupArn"
OUTPUT_LOAD_BALANCER_ARN = "LoadBalancerArn"
OUTPUT_HTTP_LISTENER = "HttpListenerArn"
OUTPUT_LOAD_BALANCER_FULL_NAME = "LoadBalancerFullName"
OUTPUT_TARGET_GROUP_FULL_NAME = "TargetGroupFullName"

HAS_CERTIFICATE = "HasCertificate"
INTERNAL_SCHEME = "InternalLoadBalancer"
NO_CERTIFICATE = "NoCertificate"
ELB_ACCOUNT_REGION = "RegionHasElbAccount"

#: TLS 1.3 and 1.2 only (Elastic Load Balancing's recommended policy).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HTTP_PORT, HTTPS_PORT = 80, 443
GROUP = "Load balancer"

PUBLIC_INGRESS_REASON = (
    "Internet-facing load balancer of a web application: with a certificate it must accept "
    "the customer's clients (IngressCidr, 0.0.0.0/0 by default) on 80 and 443, and port 80 "
    "only redirects to 443; without one it admits CloudFront's origin-facing servers only."
)
SSE_S3_REASON = (
    "ALB access logs can only be written to buckets encrypted with SSE-S3 (Elastic Load "
    "Balancing User Guide, access logs: bucket requirements); a KMS key would break delivery."
)
LOG_BUCKET_LOGGING_REASON = (
    "This bucket is the access-log destination; logging its own access would need another "
    "bucket, and that one another."
)
PLAIN_HTTP_REASON = (
    "Exists only when no certificate is given: it is the origin of the trial's CloudFront "
    "distribution, which serves viewers HTTPS; it admits CloudFront's origin-facing servers "
    "only and answers 403 to requests without the stack's secret origin header. With a "
    "certificate, HttpRedirectListener replaces it and HTTP only redirects to HTTPS."
)


def _region_in(regions: list[str]) -> Any:
    """A condition true in any of these regions (Fn::Or takes at most 10 operands)."""
    count = -(-len(regions) // 10)  # ceil: evenly sized chunks of 2..10 regions
    chunks = [regions[i::count] for i in range(count)]
    ors = [Or(*[Equals(Region, r) for r in chunk]) for chunk in chunks]
    return Or(*ors)


def build_alb_stack() -> Template:
    """The nested load-balancer template (shared by both parents)."""
    t = Template(
        Description=(
            "Cloud Optimizer edge: internet-facing or internal Application Load Balancer "
            "(HTTPS with HTTP redirect when a certificate is given), encrypted access logs, "
            "interface VPC endpoints for a VPC without NAT."
        )
    )
    _add_parameters(t)
    t.add_mapping(
        "ElbAccounts", {region: {"Account": acct} for region, acct in ELB_ACCOUNTS.items()}
    )
    t.add_condition(HAS_CERTIFICATE, Not(Equals(Ref(PARAM_CERTIFICATE), "")))
    t.add_condition(NO_CERTIFICATE, Equals(Ref(PARAM_CERTIFICATE), ""))
    t.add_condition(INTERNAL_SCHEME, Equals(Ref(PARAM_SCHEME), INTERNAL))
    t.add_condition(ELB_ACCOUNT_REGION, _region_in(sorted(ELB_ACCOUNTS)))

    _add_security_group(t)
    _add_access_log_bucket(t)
    _add_load_balancer(t)
    endpoints.add_interface_endpoints(
        t, vpc_id=PARAM_VPC_ID, subnets=PARAM_PRIVATE_SUBNETS, group=GROUP
    )

    # With a certificate the service answers at the certificate's name (the ALB's own DNS
    # name never matches it); the customer points that name at LoadBalancerDnsName.
    https_url = Sub(f"https://${{{PARAM_DOMAIN_NAME}}}")
    http_url = Sub("http://${LoadBalancer.DNSName}")
    t.add_output(
        Output(
            OUTPUT_DNS_NAME,
            Value=GetAtt("LoadBalancer", "DNSName"),
            Description="DNS name of the load balancer (a custom domain points here)",
        )
    )
    t.add_output(
        Output(
            OUTPUT_SERVICE_URL,
            Value=If(HAS_CERTIFICATE, https_url, http_url),
            Description="Where the service answers",
        )
    )
    t.add_output(
        Output(
            OUTPUT_LOAD_BALANCER_ARN,
            Value=Ref("LoadBalancer"),
            Description="The load balancer (its deletion protection is set by the ECS stack)",
        )
    )
    t.add_output(
        Output(
            OUTPUT_HTTP_LISTENER,
            Condition=NO_CERTIFICATE,
            Value=Ref("HttpListener"),
            Description="Port 80 listener without a certificate: the CloudFront origin's",
        )
    )
    t.add_output(
        Output(
            OUTPUT_SECURITY_GROUP,
            Value=Ref("LoadBalancerSecurityGroup"),
            Description="Security group of the load balancer",
        )
    )
    t.add_output(
        Output(
            OUTPUT_TARGET_GROUP,
            Value=Ref("TargetGroup"),
            Description="Target group the ECS service registers its tasks in",
        )
    )
    t.add_output(
        Output(
            OUTPUT_LOAD_BALANCER_FULL_NAME,
            Value=GetAtt("LoadBalancer", "LoadBalancerFullName"),
            Description="app/NAME/ID, the load balancer's CloudWatch metric dimension",
        )
    )
    t.add_output(
        Output(
            OUTPUT_TARGET_GROUP_FULL_NAME,
            Value=GetAtt("TargetGroup", "TargetGroupFullName"),
            Description="targetgroup/NAME/ID, the target group's CloudWatch metric dimension",
        )
    )
    return t


def _add_parameters(t: Template) -> None:
    add_parameter(
        t,
        PARAM_VPC_ID,
        group=GROUP,
        label="VPC",
        Type="AWS::EC2::VPC::Id",
        Description="The VPC of the load balancer and its targets.",
    )
    SCHEME_PARAMETER.add(
        t,
        group=GROUP,
        default=INTERNET_FACING,
        description=(
            "internet-facing (public subnets) or internal (private subnets, reachable from "
            "the VPC and networks connected to it only). Changing it replaces the load balancer."
        ),
    )
    # Lists, not List<AWS::EC2::Subnet::Id>: an internal load balancer in an existing VPC
    # has no public subnets to pass, and an AWS-specific list type refuses an empty value.
    # No defaults: the parents pass both.
    add_parameter(
        t,
        PARAM_PUBLIC_SUBNETS,
        group=GROUP,
        label="Public subnets",
        Type="CommaDelimitedList",
        Description=(
            "Two or more public subnets in different AZs: the internet-facing load balancer's."
        ),
    )
    add_parameter(
        t,
        PARAM_PRIVATE_SUBNETS,
        group=GROUP,
        label="Private subnets",
        Type="CommaDelimitedList",
        Description="Two or more private subnets in different AZs: the internal load balancer's.",
    )
    CERTIFICATE_PARAMETER.add(
        t,
        group=GROUP,
        optional=True,
        description=(
            "Empty: port 80 for the trial's CloudFront distribution only (403 to anyone "
            "else). Otherwise HTTPS on 443 and HTTP redirects to it."
        ),
    )
    DOMAIN_NAME_PARAMETER.add(
        t,
        group=GROUP,
        optional=True,
        description="With a certificate: the name it is for, where the service answers.",
    )
    add_parameter(
        t,
        PARAM_INGRESS_CIDR,
        group=GROUP,
        label="Allowed client CIDR",
        Type="String",
        Default="0.0.0.0/0",
        AllowedPattern=CIDR_PATTERN,
        ConstraintDescription="an IPv4 CIDR block such as 203.0.113.0/24",
        Description="Who may reach the load balancer on 80/443 (the allow-list's first CIDR).",
    )
    for n in range(2, allow_list.MAX_CIDRS + 1):
        add_optional_parameter(
            t,
            allow_list.slot(n, PARAM_INGRESS_CIDR),
            group=GROUP,
            label=f"Allowed client CIDR {n}",
            pattern=allow_list.CIDR,
            what="an IPv4 CIDR block such as 203.0.113.0/24",
            description=f"The allow-list's CIDR number {n}, or empty.",
        )
        t.add_condition(
            allow_list.slot_condition(n), allow_list.given(allow_list.slot(n, PARAM_INGRESS_CIDR))
        )
    add_retention(
        t,
        PARAM_ACCESS_LOG_RETENTION,
        group=GROUP,
        label="Access log retention (days)",
        description="How long access logs are kept in the bucket.",
    )


def _add_security_group(t: Template) -> None:
    t.add_resource(
        SecurityGroup(
            "LoadBalancerSecurityGroup",
            GroupDescription="Cloud Optimizer load balancer: HTTP/HTTPS from the clients",
            VpcId=Ref(PARAM_VPC_ID),
            # No inline ingress: with a certificate the two rules below admit the clients;
            # without one CloudFront is the only client, and the CloudFront stack admits its
            # origin-facing servers here, nobody else.
            # Egress to the tasks is added by the ECS stack, which owns their group.
            SecurityGroupEgress=no_egress(),
            Metadata=scanner_skips(checkov=[("CKV_AWS_260", PUBLIC_INGRESS_REASON)]),
            Tags=name_tags("alb"),
        )
    )
    t.add_resource(
        SecurityGroupIngress(
            "LoadBalancerHttpIngress",
            Condition=HAS_CERTIFICATE,
            GroupId=GetAtt("LoadBalancerSecurityGroup", "GroupId"),
            IpProtocol="tcp",
            FromPort=HTTP_PORT,
            ToPort=HTTP_PORT,
            CidrIp=Ref(PARAM_INGRESS_CIDR),
            Description="HTTP from the allowed clients (redirected to HTTPS)",
            Metadata=scanner_skips(checkov=[("CKV_AWS_260", PUBLIC_INGRESS_REASON)]),
        )
    )
    t.add_resource(
        SecurityGroupIngress(
            "LoadBalancerHttpsIngress",
            Condition=HAS_CERTIFICATE,
            GroupId=GetAtt("LoadBalancerSecurityGroup", "GroupId"),
            IpProtocol="tcp",
            FromPort=HTTPS_PORT,
            ToPort=HTTPS_PORT,
            CidrIp=Ref(PARAM_INGRESS_CIDR),
            Description="HTTPS from the allowed clients",
        )
    )
    for n in range(2, allow_list.MAX_CIDRS + 1):
        cidr = Ref(allow_list.slot(n, PARAM_INGRESS_CIDR))
        both = f"HasIngressCidr{n}AndCertificate"
        t.add_condition(
            both, And(_condition(allow_list.slot_condition(n)), _condition(HAS_CERTIFICATE))
        )
        for title, port, condition, what in (
            (f"LoadBalancerHttpIngress{n}", HTTP_PORT, allow_list.slot_condition(n), "HTTP"),
            (f"LoadBalancerHttpsIngress{n}", HTTPS_PORT, both, "HTTPS"),
        ):
            t.add_resource(
                SecurityGroupIngress(
                    title,
                    Condition=condition,
                    GroupId=GetAtt("LoadBalancerSecurityGroup", "GroupId"),
                    IpProtocol="tcp",
                    FromPort=port,
                    ToPort=port,
                    CidrIp=cidr,
                    Description=f"{what} from the allowed clients ({n})",
                )
            )


def _add_access_log_bucket(t: Template) -> None:
    t.add_resource(
        Bucket(
            "AccessLogBucket",
            # Kept on stack deletion: it holds the audit trail, and S3 cannot delete a
            # non-empty bucket, which would otherwise fail the trial's teardown.
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
            BucketEncryption=BucketEncryption(
                ServerSideEncryptionConfiguration=[
                    ServerSideEncryptionRule(
                        ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(
                            SSEAlgorithm="AES256"
                        ),
                        BucketKeyEnabled=True,
                    )
                ]
            ),
            PublicAccessBlockConfiguration=PublicAccessBlockConfiguration(
                BlockPublicAcls=True,
                BlockPublicPolicy=True,
                IgnorePublicAcls=True,
                RestrictPublicBuckets=True,
            ),
            OwnershipControls=OwnershipControls(
                Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
            ),
            VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
            LifecycleConfiguration=LifecycleConfiguration(
                Rules=[
                    LifecycleRule(
                        Id="expire-access-logs",
                        Status="Enabled",
                        ExpirationInDays=Ref(PARAM_ACCESS_LOG_RETENTION),
                        NoncurrentVersionExpiration=NoncurrentVersionExpiration(NoncurrentDays=1),
                        AbortIncompleteMultipartUpload=AbortIncompleteMultipartUpload(
                            DaysAfterInitiation=1
                        ),
                    )
                ]
            ),
            Metadata=scanner_skips(
                checkov=[
                    ("CKV_AWS_18", LOG_BUCKET_LOGGING_REASON),
                    ("CKV_AWS_145", SSE_S3_REASON),
                ],
                trivy=[
                    ("AVD-AWS-0089", LOG_BUCKET_LOGGING_REASON),
                    ("AVD-AWS-0132", SSE_S3_REASON),
                ],
            ),
            Tags=name_tags("alb-access-logs"),
        )
    )
    bucket_arn = GetAtt("AccessLogBucket", "Arn")
    log_objects = Sub("${AccessLogBucket.Arn}/AWSLogs/${AWS::AccountId}/*")
    deny_insecure = Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[s3_actions.Action("*")],
        Resource=[bucket_arn, Sub("${AccessLogBucket.Arn}/*")],
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )
    service_delivery = Statement(
        Sid="ElbLogDeliveryService",
        Effect=Allow,
        Principal=Principal("Service", "logdelivery.elasticloadbalancing.amazonaws.com"),
        Action=[s3_actions.PutObject],
        Resource=[log_objects],
    )
    account_delivery = Statement(
        Sid="ElbLogDeliveryAccount",
        Effect=Allow,
        Principal=Principal(
            "AWS",
            Sub(
                "arn:${AWS::Partition}:iam::${ElbAccount}:root",
                ElbAccount=FindInMap("ElbAccounts", Region, "Account"),
            ),
        ),
        Action=[s3_actions.PutObject],
        Resource=[log_objects],
    )
    document = PolicyDocument(Version="2012-10-17", Statement=[deny_insecure, service_delivery])
    # awacs has no Fn::If; add the region-dependent statement to its rendered JSON.
    policy: dict[str, Any] = encode_to_dict(document)
    optional = encode_to_dict(account_delivery)
    policy["Statement"].append(If(ELB_ACCOUNT_REGION, optional, NoValue))
    t.add_resource(
        BucketPolicy(
            "AccessLogBucketPolicy",
            Bucket=Ref("AccessLogBucket"),
            PolicyDocument=policy,
        )
    )


def _add_load_balancer(t: Template) -> None:
    load_balancer = t.add_resource(
        LoadBalancer(
            "LoadBalancer",
            DependsOn="AccessLogBucketPolicy",
            Type="application",
            # Create-only: a new scheme is a new load balancer (new DNS name); no data is lost.
            Scheme=Ref(PARAM_SCHEME),
            IpAddressType="ipv4",
            Subnets=If(INTERNAL_SCHEME, Ref(PARAM_PRIVATE_SUBNETS), Ref(PARAM_PUBLIC_SUBNETS)),
            SecurityGroups=[Ref("LoadBalancerSecurityGroup")],
            LoadBalancerAttributes=[
                # No deletion_protection.enabled here: protected from the first second, the
                # load balancer would make a failed create's rollback fail. The ECS stack's
                # Custom::DeletionProtection turns it on once everything is up.
                LoadBalancerAttributes(
                    Key="routing.http.drop_invalid_header_fields.enabled", Value="true"
                ),
                LoadBalancerAttributes(Key="access_logs.s3.enabled", Value="true"),
                LoadBalancerAttributes(Key="access_logs.s3.bucket", Value=Ref("AccessLogBucket")),
            ],
            Metadata=scanner_skips(
                trivy=[
                    (
                        "AVD-AWS-0053",
                        "The product is a web application for the customer's "
                        "users: its load balancer is internet-facing by default; Scheme "
                        "internal keeps it private, IngressCidr narrows who may connect.",
                    )
                ]
            ),
            Tags=name_tags("alb"),
        )
    )
    edge.add_web_acl(t, load_balancer, group=GROUP)
    edge.add_dns_record(t, load_balancer, PARAM_DOMAIN_NAME, group=GROUP)
    t.add_resource(
        TargetGroup(
            "TargetGroup",
            VpcId=Ref(PARAM_VPC_ID),
            TargetType="ip",
            Protocol="HTTP",
            Port=contract.PORT,
            HealthCheckEnabled=True,
            HealthCheckProtocol="HTTP",
            # Liveness, not readiness: ECS stops a task whose target fails this check, so
            # checking /ready would restart every task while the database fails over.
            # Draining needs no readiness here: ECS deregisters a task from the target group
            # before it stops it ("Use load balancing to distribute Amazon ECS service
            # traffic": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html).
            HealthCheckPath=contract.HEALTH_PATH,
            HealthCheckIntervalSeconds=contract.PROBE_INTERVAL,
            HealthCheckTimeoutSeconds=contract.PROBE_TIMEOUT,
            HealthyThresholdCount=contract.LB_HEALTHY_THRESHOLD,
            UnhealthyThresholdCount=3,
            Matcher=Matcher(HttpCode="200"),
            TargetGroupAttributes=[
                TargetGroupAttribute(
                    Key="deregistration_delay.timeout_seconds",
                    Value=str(contract.DEREGISTRATION_DELAY),
                ),
            ],
            Tags=name_tags("app"),
        )
    )
    forward = [Action(Type="forward", TargetGroupArn=Ref("TargetGroup"))]
    https = t.add_resource(
        Listener(
            "HttpsListener",
            Condition=HAS_CERTIFICATE,
            LoadBalancerArn=Ref("LoadBalancer"),
            Port=HTTPS_PORT,
            Protocol="HTTPS",
            SslPolicy=TLS_POLICY,
            Certificates=[Certificate(CertificateArn=Ref(PARAM_CERTIFICATE))],
            DefaultActions=forward,
        )
    )
    sso.add_parameters(t, group=GROUP)
    sso.add_to_listener(
        t,
        listener=https,
        forward=forward,
        lb_group=GetAtt("LoadBalancerSecurityGroup", "GroupId"),
    )
    t.add_resource(
        Listener(
            "HttpRedirectListener",
            Condition=HAS_CERTIFICATE,
            LoadBalancerArn=Ref("LoadBalancer"),
            Port=HTTP_PORT,
            Protocol="HTTP",
            DefaultActions=[
                Action(
                    Type="redirect",
                    RedirectConfig=RedirectConfig(
                        Protocol="HTTPS", Port=str(HTTPS_PORT), StatusCode="HTTP_301"
                    ),
                )
            ],
        )
    )
    t.add_resource(
        Listener(
            "HttpListener",
            Condition=NO_CERTIFICATE,
            LoadBalancerArn=Ref("LoadBalancer"),
            Port=HTTP_PORT,
            Protocol="HTTP",
            # Only requests from the stack's CloudFront distribution are forwarded (its
            # rule, in the CloudFront stack, checks the secret origin header).
            DefaultActions=[
                Action(
                    Type="fixed-response",
                    FixedResponseConfig=FixedResponseConfig(
                        StatusCode="403", ContentType="text/plain", MessageBody="Forbidden"
                    ),
                )
            ],
            Metadata=scanner_skips(
                checkov=[
                    ("CKV_AWS_2", PLAIN_HTTP_REASON),
                    ("CKV_AWS_103", "An HTTP listener has no TLS policy. " + PLAIN_HTTP_REASON),
                ],
                trivy=[("AVD-AWS-0054", PLAIN_HTTP_REASON)],
            ),
        )
    )


def _condition(name: str) -> dict[str, str]:
    return {"Condition": name}
