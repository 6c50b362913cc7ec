"""The stack helper function and its custom resources (source: stack_helper_code.py).

Each nested stack that needs a custom resource gets its own copy of the function, with a
role that may do exactly what that stack's resources need, and its own log group
(retention, key). The code is inlined in the template (``Code.ZipFile``), so the
templates need no artefact bucket in every region.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

from awacs import logs as logs_actions
from awacs.aws import Allow, PolicyDocument, Statement
from troposphere import AWSObject, GetAtt, Sub, Template
from troposphere.awslambda import Code, Function, LoggingConfig
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from templates_src import stack_helper_code
from templates_src.security import name_tags, scanner_skips, service_trust

FUNCTION = "StackHelper"
ROLE = "StackHelperRole"
LOG_GROUP = "StackHelperLogGroup"
#: CloudFormation's limit for inline function code (AWS::Lambda::Function Code.ZipFile).
ZIPFILE_LIMIT = 4096
#: A supported Lambda runtime ("Lambda runtimes": deprecation in 2029):
#: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
RUNTIME = "python3.13"
TIMEOUT_SECONDS = 300

NOT_IN_VPC = (
    "The helper calls only AWS control-plane APIs (IAM, CloudFormation, RDS, ELB, Logs) and "
    "touches no data; outside a VPC it needs no NAT path and cannot reach the database."
)
NO_DLQ = (
    "CloudFormation invokes custom resources asynchronously and the function always answers "
    "its pre-signed URL, failure included; a dead-letter queue would hold nothing to replay."
)
NO_RESERVED_CONCURRENCY = (
    "New accounts may run only 10 concurrent executions, the minimum that must stay "
    "unreserved: reserving any makes the create fail there."
)
NO_CODE_SIGNING = "The code is inline in the template, which the listing publishes and signs."


class _Strip(ast.NodeTransformer):
    """Drop docstrings and annotations: what the runtime does not need to run the code."""

    def _body(self, node: Any) -> Any:
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
            node.body = node.body[1:] or [ast.Pass()]
        return node

    def visit_Module(self, node: ast.Module) -> Any:
        return self._body(self.generic_visit(node))

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        return self._body(self.generic_visit(node))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        if node.value is None:
            return None
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        return None if node.module == "typing" else node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node.returns = None
        for argument in [*node.args.args, *node.args.kwonlyargs]:
            argument.annotation = None
        return self._body(self.generic_visit(node))


#: The functions each custom resource type needs besides the common ones.
KIND_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "EcsServiceLinkedRole": ("ecs_service_linked_role",),
    "StackGuard": ("stack_guard",),
    "DeletionProtection": ("deletion_protection", "root_status", "protected", "protect"),
    "LogGroups": ("log_groups",),
    "OriginFacingPrefixList": ("origin_facing_prefix_list",),
}
ALL_KINDS = tuple(KIND_FUNCTIONS)


def _only(tree: ast.Module, kinds: Sequence[str]) -> ast.Module:
    """The module with the handlers of ``kinds`` only (and a HANDLERS table of them)."""
    unused = {f for k, names in KIND_FUNCTIONS.items() if k not in kinds for f in names}
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in unused:
            continue
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "HANDLERS":
            assert isinstance(node.value, ast.Dict)
            pairs = [
                (k, v)
                for k, v in zip(node.value.keys, node.value.values, strict=True)
                if isinstance(k, ast.Constant) and k.value in kinds
            ]
            node.value.keys = [k for k, _ in pairs]
            node.value.values = [v for _, v in pairs]
        body.append(node)
    tree.body = body
    return tree


def inline_code(kinds: Sequence[str] = ALL_KINDS) -> str:
    """The function's source as deployed: the handlers of ``kinds``, without comments,
    docstrings or type hints, indented by one space a level (the runtime needs no more)."""
    tree = _only(_Strip().visit(ast.parse(inspect.getsource(stack_helper_code))), kinds)
    lines = ast.unparse(ast.fix_missing_locations(tree)).splitlines()
    # ast.unparse indents by four spaces and writes every string on one line.
    code = "".join(
        " " * ((len(line) - len(line.lstrip(" "))) // 4) + line.lstrip(" ") + "\n" for line in lines
    )
    if len(code) > ZIPFILE_LIMIT:
        raise ValueError(f"stack helper code is {len(code)} characters, over {ZIPFILE_LIMIT}")
    return code


def add_stack_helper(
    t: Template,
    *,
    kinds: Sequence[str],
    key_arn: object,
    retention_days: object,
    statements: Sequence[Statement],
) -> Function:
    """The function, its role (own logs + ``statements``) and its log group.

    The function names its log group rather than referring to it, so that it does not
    wait for the log group (which waits for the key) before the database's guard can run:
    that would put 25 s more on the trial's critical path. Lines of an invocation that
    beats the log group's creation are lost; the result still reaches CloudFormation.
    """
    log_group_name = Sub("/cloud-optimizer/${AWS::StackName}/stack-helper")
    t.add_resource(
        LogGroup(
            LOG_GROUP,
            LogGroupName=log_group_name,
            RetentionInDays=retention_days,
            KmsKeyId=key_arn,
        )
    )
    own_logs = Statement(
        Sid="WriteOwnLogs",
        Effect=Allow,
        Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
        Resource=[
            Sub(
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                "/cloud-optimizer/${AWS::StackName}/stack-helper:log-stream:*"
            )
        ],
    )
    role = t.add_resource(
        Role(
            ROLE,
            AssumeRolePolicyDocument=service_trust("lambda.amazonaws.com"),
            Policies=[
                Policy(
                    PolicyName="stack-helper",
                    PolicyDocument=PolicyDocument(
                        Version="2012-10-17", Statement=[own_logs, *statements]
                    ),
                )
            ],
            Tags=name_tags("stack-helper"),
        )
    )
    return t.add_resource(
        Function(
            FUNCTION,
            Description="Cloud Optimizer stack helper: custom resources of this stack",
            Runtime=RUNTIME,
            Handler="index.handler",
            Code=Code(ZipFile=inline_code(kinds)),
            Role=GetAtt(role, "Arn"),
            Timeout=TIMEOUT_SECONDS,
            MemorySize=128,
            LoggingConfig=LoggingConfig(LogGroup=log_group_name),
            Metadata=scanner_skips(
                checkov=[
                    ("CKV_AWS_117", NOT_IN_VPC),
                    ("CKV_AWS_116", NO_DLQ),
                    ("CKV_AWS_115", NO_RESERVED_CONCURRENCY),
                    ("CKV_AWS_272", NO_CODE_SIGNING),
                ],
                trivy=[("AVD-AWS-0066", "Tracing would add X-Ray cost for a few calls a stack.")],
            ),
            Tags=name_tags("stack-helper"),
        )
    )


class _CustomResource(AWSObject):  # type: ignore[misc] # troposphere is untyped
    props: ClassVar[dict[str, Any]] = {"ServiceToken": (object, True)}

    def __init__(self, title: str, resource_type: str, **kwargs: Any) -> None:
        self.resource_type = resource_type
        super().__init__(title, **kwargs)


def custom_resource(
    title: str, kind: str, function: Function, properties: dict[str, Any], **attributes: Any
) -> AWSObject:
    """A ``Custom::<kind>`` resource served by the stack's helper function."""
    resource = _CustomResource(
        title, f"Custom::{kind}", ServiceToken=GetAtt(function, "Arn"), **attributes
    )
    resource.properties.update(properties)
    return resource
