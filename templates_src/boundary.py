"""Permissions boundary (issue 15): one optional managed policy on every role a stack creates.

Accounts whose administrators let teams create roles only under a boundary (an SCP or an
IAM policy with the ``iam:PermissionsBoundary`` condition) refuse a role without it: the
stack's create fails at its first role. With the parameter given, every ``AWS::IAM::Role``
of the nested stack carries the boundary; a role's effective permissions are then what its
policies *and* the boundary allow ("Permissions boundaries for IAM entities":
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html). No role
has a fixed name (``RoleName``), so two stacks never collide and CAPABILITY_IAM suffices.
"""

from __future__ import annotations

from troposphere import Equals, If, Not, NoValue, Ref, Template
from troposphere.iam import Role

from templates_src.params import ParameterSpec

PARAM_BOUNDARY = "PermissionsBoundaryArn"
HAS_BOUNDARY = "HasPermissionsBoundary"
#: A customer-managed or AWS-managed IAM policy ARN.
POLICY_ARN = r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[A-Za-z0-9+=,.@_/-]{1,512}"
#: Optional everywhere: empty means no boundary.
BOUNDARY_PARAMETER = ParameterSpec(
    PARAM_BOUNDARY,
    label="Permissions boundary (optional)",
    pattern=POLICY_ARN,
    what="the ARN of an IAM managed policy, e.g. arn:aws:iam::123456789012:policy/x",
)


def add_permissions_boundary(t: Template, *, group: str) -> None:
    """The parameter, and the boundary on every role already in ``t`` (call it last)."""
    BOUNDARY_PARAMETER.add(
        t,
        group=group,
        optional=True,
        description="Managed policy set as the permissions boundary of every role created.",
    )
    t.add_condition(HAS_BOUNDARY, Not(Equals(Ref(PARAM_BOUNDARY), "")))
    roles = [r for r in t.resources.values() if isinstance(r, Role)]
    if not roles:
        raise ValueError("no role to bound: add the boundary after the roles")
    for role in roles:
        role.PermissionsBoundary = If(HAS_BOUNDARY, Ref(PARAM_BOUNDARY), NoValue)
