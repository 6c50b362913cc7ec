"""Single sign-on at the load balancer (issue 15, point 4): authenticate-oidc or -cognito.

With ``SsoProvider`` oidc or cognito, the HTTPS listener authenticates a browser before a
request reaches the service: its default action is ``authenticate-oidc`` (or
``authenticate-cognito``), then ``forward``. The actions exist on HTTPS listeners only
("Authenticate users using an Application Load Balancer": "You can configure an
Application Load Balancer to securely authenticate users ... only on HTTPS listeners",
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html),
hence the parent's rule that SSO needs a certificate. The load balancer itself calls the
IdP's token and user-info endpoints, so its security group gets HTTPS egress (same page,
"Prepare to use an OIDC-compliant IdP": allow outbound 443 to the IdP).

Machine clients keep the API token: a listener rule ahead of the default action forwards
requests that carry ``Authorization: Bearer ...`` without the login, and the service checks
the token as before. The OIDC client secret is read from Secrets Manager at deploy time by
a dynamic reference; it never appears in the template or the stack's parameters.
"""

from __future__ import annotations

from typing import Any

from troposphere import And, Equals, If, Not, Or, Ref, Sub, Template
from troposphere.ec2 import SecurityGroupEgress
from troposphere.elasticloadbalancingv2 import (
    Action,
    AuthenticateCognitoConfig,
    AuthenticateOidcConfig,
    Condition,
    HttpHeaderConfig,
    ListenerRule,
    ListenerRuleAction,
)

from service import contract
from templates_src.params import add_optional_parameter, add_parameter
from templates_src.security import scanner_skips

PARAM_PROVIDER = "SsoProvider"
NONE, OIDC, COGNITO = "none", "oidc", "cognito"
OIDC_PARAMS = (
    "OidcIssuer",
    "OidcAuthorizationEndpoint",
    "OidcTokenEndpoint",
    "OidcUserInfoEndpoint",
    "OidcClientId",
    "OidcClientSecretArn",
)
COGNITO_PARAMS = ("CognitoUserPoolArn", "CognitoUserPoolClientId", "CognitoUserPoolDomain")
IS_OIDC, IS_COGNITO, ENABLED = "SsoOidc", "SsoCognito", "SsoEnabled"
ON_LISTENER = "SsoOnHttpsListener"
HTTPS_URL = r"https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?"
SECRET_ARN = contract.SECRET_ARN_PATTERN
USER_POOL_ARN = r"arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[a-z0-9-]+_[A-Za-z0-9]+"
#: Session cookie lifetime: a working day, not the ALB's 7-day default.
SESSION_TIMEOUT_SECONDS = 43200
GROUP = "Single sign-on"

_SPECS: dict[str, tuple[str, str, str]] = {
    "OidcIssuer": ("OIDC issuer", HTTPS_URL, "The IdP's issuer URL (https://...)."),
    "OidcAuthorizationEndpoint": ("OIDC authorization endpoint", HTTPS_URL, "https://..."),
    "OidcTokenEndpoint": ("OIDC token endpoint", HTTPS_URL, "https://..."),
    "OidcUserInfoEndpoint": ("OIDC user info endpoint", HTTPS_URL, "https://..."),
    "OidcClientId": ("OIDC client id", r"[\x21-\x7e]{1,256}", "The client id the IdP issued."),
    "OidcClientSecretArn": (
        "OIDC client secret (Secrets Manager ARN)",
        SECRET_ARN,
        "A secret whose SecretString is the client secret; read at deploy time.",
    ),
    "CognitoUserPoolArn": ("Cognito user pool ARN", USER_POOL_ARN, "The user pool."),
    "CognitoUserPoolClientId": (
        "Cognito app client id",
        r"[a-z0-9]{1,128}",
        "An app client of the pool, with a client secret.",
    ),
    "CognitoUserPoolDomain": (
        "Cognito domain prefix",
        r"[a-z0-9](-?[a-z0-9])*",
        "The pool's domain prefix (not the full domain).",
    ),
}


def add_parameters(t: Template, *, group: str = GROUP) -> None:
    """The provider switch and each provider's settings (all empty by default)."""
    add_parameter(
        t,
        PARAM_PROVIDER,
        group=group,
        label="Single sign-on",
        Type="String",
        AllowedValues=[NONE, OIDC, COGNITO],
        Default=NONE,
        Description=(
            "none: the service's own API tokens only. oidc or cognito: browsers log in at the "
            "load balancer first (HTTPS only); requests with an Authorization: Bearer token "
            "pass without the login."
        ),
    )
    for name in (*OIDC_PARAMS, *COGNITO_PARAMS):
        label, pattern, description = _SPECS[name]
        add_optional_parameter(
            t,
            name,
            group=group,
            label=label,
            pattern=pattern,
            what=description,
            description=f"{'With oidc' if name in OIDC_PARAMS else 'With cognito'}: {description}",
        )


def pass_through() -> dict[str, Ref]:
    return {name: Ref(name) for name in (PARAM_PROVIDER, *OIDC_PARAMS, *COGNITO_PARAMS)}


def rules(t: Template, *, certificate: str, scheme: str, egress: str, no_nat: str) -> None:
    """The parent's rules: a certificate, every field of the provider, a way out to the IdP."""
    oidc = Equals(Ref(PARAM_PROVIDER), OIDC)
    cognito = Equals(Ref(PARAM_PROVIDER), COGNITO)
    enabled = Not(Equals(Ref(PARAM_PROVIDER), NONE))
    t.add_rule(
        "SsoNeedsCertificate",
        {
            "RuleCondition": enabled,
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(certificate), "")),
                    "AssertDescription": (
                        f"{PARAM_PROVIDER} needs {certificate}: the load balancer "
                        "authenticates on HTTPS listeners only"
                    ),
                }
            ],
        },
    )
    for rule, condition, names in (
        ("OidcNeedsItsSettings", oidc, OIDC_PARAMS),
        ("CognitoNeedsItsSettings", cognito, COGNITO_PARAMS),
    ):
        t.add_rule(
            rule,
            {
                "RuleCondition": condition,
                "Assertions": [
                    {
                        "Assert": Not(Equals(Ref(name), "")),
                        "AssertDescription": f"{name} is required with {PARAM_PROVIDER} "
                        f"{'oidc' if names is OIDC_PARAMS else 'cognito'}",
                    }
                    for name in names
                ],
            },
        )
    t.add_rule(
        "SsoNeedsAWayToTheIdp",
        {
            "RuleCondition": enabled,
            "Assertions": [
                {
                    "Assert": Or(
                        Not(Equals(Ref(scheme), "internal")), Not(Equals(Ref(egress), no_nat))
                    ),
                    "AssertDescription": (
                        "an internal load balancer reaches the IdP through a NAT gateway: "
                        f"with {PARAM_PROVIDER}, choose a NAT {egress} or internet-facing"
                    ),
                }
            ],
        },
    )


def add_to_listener(t: Template, *, listener: Any, forward: list[Action], lb_group: Any) -> None:
    """The login before ``forward`` on ``listener``, the bearer-token bypass, IdP egress."""
    t.add_condition(IS_OIDC, Equals(Ref(PARAM_PROVIDER), OIDC))
    t.add_condition(IS_COGNITO, Equals(Ref(PARAM_PROVIDER), COGNITO))
    t.add_condition(ENABLED, Not(Equals(Ref(PARAM_PROVIDER), NONE)))
    # The listener exists only with a certificate (and the parent's rule requires one).
    t.add_condition(ON_LISTENER, And({"Condition": ENABLED}, {"Condition": listener.Condition}))
    oidc = Action(
        Type="authenticate-oidc",
        Order=1,
        AuthenticateOidcConfig=AuthenticateOidcConfig(
            Issuer=Ref("OidcIssuer"),
            AuthorizationEndpoint=Ref("OidcAuthorizationEndpoint"),
            TokenEndpoint=Ref("OidcTokenEndpoint"),
            UserInfoEndpoint=Ref("OidcUserInfoEndpoint"),
            ClientId=Ref("OidcClientId"),
            # A dynamic reference: CloudFormation reads the secret at deploy time.
            ClientSecret=Sub("{{resolve:secretsmanager:${OidcClientSecretArn}}}"),
            OnUnauthenticatedRequest="authenticate",
            Scope="openid",
            SessionTimeout=str(SESSION_TIMEOUT_SECONDS),
        ),
    )
    cognito = Action(
        Type="authenticate-cognito",
        Order=1,
        AuthenticateCognitoConfig=AuthenticateCognitoConfig(
            UserPoolArn=Ref("CognitoUserPoolArn"),
            UserPoolClientId=Ref("CognitoUserPoolClientId"),
            UserPoolDomain=Ref("CognitoUserPoolDomain"),
            OnUnauthenticatedRequest="authenticate",
            Scope="openid",
            SessionTimeout=str(SESSION_TIMEOUT_SECONDS),
        ),
    )
    then_forward = [Action(Type="forward", Order=2, TargetGroupArn=forward[0].TargetGroupArn)]
    listener.DefaultActions = If(
        IS_OIDC, [oidc, *then_forward], If(IS_COGNITO, [cognito, *then_forward], forward)
    )
    t.add_resource(
        ListenerRule(
            "BearerTokenBypassRule",
            Condition=ON_LISTENER,
            ListenerArn=Ref(listener),
            Priority=1,
            Conditions=[
                Condition(
                    Field="http-header",
                    HttpHeaderConfig=HttpHeaderConfig(
                        HttpHeaderName="Authorization", Values=["Bearer *"]
                    ),
                )
            ],
            Actions=[ListenerRuleAction(Type="forward", TargetGroupArn=forward[0].TargetGroupArn)],
        )
    )
    t.add_resource(
        SecurityGroupEgress(
            "LoadBalancerEgressToIdp",
            Condition=ENABLED,
            GroupId=lb_group,
            IpProtocol="tcp",
            FromPort=443,
            ToPort=443,
            CidrIp="0.0.0.0/0",
            Description="HTTPS to the identity provider's token and user-info endpoints",
            Metadata=scanner_skips(
                trivy=[
                    (
                        "AVD-AWS-0104",
                        "Exists only with SSO on: the load balancer itself calls the IdP's "
                        "token and user-info endpoints over HTTPS (ELB User Guide, "
                        "authenticate users); an IdP has no fixed CIDR to name instead.",
                    )
                ]
            ),
        )
    )
