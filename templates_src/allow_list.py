"""The load balancer's client allow-list: up to ten CIDR blocks, each validated.

CloudFormation has no loop over a list parameter (short of a transform), so the parent
hands the ALB stack one CIDR per slot and the ALB stack declares a rule per slot and port,
each under a condition "this slot is given". The parent's parameter is one string,
comma-separated, validated whole by one pattern: every item a CIDR block, at most ten, none
twice (EC2 refuses a duplicate rule, "InvalidPermission.Duplicate", which would fail the
create halfway).

Ten, because each CIDR takes a rule per listener port (80, 443): 20 of the 60 inbound rules
a security group may have ("Amazon VPC quotas", security groups:
https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups).
Larger lists belong in a customer-managed prefix list or a WAF IP set (WebAclArn).
"""

from __future__ import annotations

from troposphere import Equals, Join, Not, Ref, Select, Split

MAX_CIDRS = 10
#: One IPv4 CIDR block, unanchored.
CIDR = (
    r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"/(3[0-2]|[12]?\d)"
)
#: One to ten comma-separated CIDR blocks, no spaces, none repeated (the lookahead).
CIDR_LIST_PATTERN = rf"^(?!(.*,)?([^,]+),(.*,)?\2(,|$)){CIDR}(,{CIDR}){{0,{MAX_CIDRS - 1}}}$"
CIDR_LIST_CONSTRAINT = (
    f"1 to {MAX_CIDRS} IPv4 CIDR blocks, comma-separated without spaces, none repeated, "
    "e.g. 203.0.113.0/24,198.51.100.7/32"
)


def slot(n: int, first: str) -> str:
    """The ALB stack's parameter of the n-th CIDR (1-based); the first keeps its old name."""
    return first if n == 1 else f"{first}{n}"


def slot_condition(n: int) -> str:
    return f"HasIngressCidr{n}"


def slot_values(first: str, cidrs: Ref) -> dict[str, object]:
    """The parent's side: each slot's CIDR, or "" for the slots the list does not fill.

    ``MAX_CIDRS - 1`` commas appended make the list at least ten items long, so that
    Fn::Select never indexes past its end.
    """
    padded = Split(",", Join("", [cidrs, "," * (MAX_CIDRS - 1)]))
    return {slot(n, first): Select(n - 1, padded) for n in range(1, MAX_CIDRS + 1)}


def given(name: str) -> Not:
    return Not(Equals(Ref(name), ""))
