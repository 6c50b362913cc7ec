"""What differs between the one-click trial and the production stack.

The four nested templates are shared by both parents, so every difference is either a
value a parent passes to a child (``availability_zones``, ``db_multi_az``...) or the
default of a parameter the customer sees (``db_instance_class``, ``desired_count``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProfileName = Literal["trial", "production"]


@dataclass(frozen=True, slots=True)
class Profile:
    """One deployment flavour; a parent template is a pure function of it."""

    name: ProfileName
    description: str
    #: Base name of the parent template file and of its parameter file.
    template_name: str
    parameters_name: str

    # Network: the most AZs a new VPC spans (fewer where the region has fewer, see
    # templates_src/regions.py), whether the customer may choose, and NAT gateways (one,
    # or one per AZ).
    availability_zones: int
    customer_chooses_azs: bool
    nat_gateway_per_az: bool

    # Load balancer: is an ACM certificate mandatory (HTTPS only).
    certificate_required: bool
    #: Deletion protection of the database and the load balancer, on once the stack is up.
    deletion_protection: bool

    # Database.
    db_instance_class: str
    db_allocated_storage_gib: int
    #: Storage autoscaling's ceiling.
    db_max_allocated_storage_gib: int
    db_backup_retention_days: int
    db_multi_az: bool
    db_performance_insights: bool
    #: DeletionPolicy/UpdateReplacePolicy Snapshot (keep the data) instead of Delete.
    db_snapshot_on_delete: bool

    # Service.
    task_size: str
    desired_count: int
    max_count: int
    log_retention_days: int
    #: The options platform teams ask for (issue 15: scheme, WAF, SSO, custom domain,
    #: alarms, private-only networking) are parameters of this parent.
    platform_options: bool = False


TRIAL = Profile(
    name="trial",
    description=(
        "Cloud Optimizer one-click trial: ECS Fargate behind an Application Load Balancer, "
        "RDS PostgreSQL, in a new two-AZ VPC or an existing one. Cheap and deletable."
    ),
    template_name="cloud-optimizer-quickstart",
    parameters_name="trial",
    availability_zones=2,
    customer_chooses_azs=False,
    nat_gateway_per_az=False,
    certificate_required=False,
    deletion_protection=False,
    db_instance_class="db.t3.micro",
    db_allocated_storage_gib=20,
    db_max_allocated_storage_gib=100,
    db_backup_retention_days=1,
    db_multi_az=False,
    db_performance_insights=False,
    db_snapshot_on_delete=False,
    # Measured (docs/performance.md, bench/bench_kb_scale.py): RSS 54 MB idle, 57 MB peak
    # under 20 connections of KB reads and writes with the shipped knowledge base (80 MB at
    # 10x): 512 MB is 9x the peak. A quarter vCPU serves the trial's traffic; starts take
    # about four times the CPU seconds of a full vCPU, well inside the health-check grace.
    task_size="0.25vCPU-0.5GB",
    desired_count=1,
    max_count=2,
    log_retention_days=30,
)

PRODUCTION = Profile(
    name="production",
    description=(
        "Cloud Optimizer production: ECS Fargate behind an HTTPS Application Load Balancer, "
        "Multi-AZ RDS PostgreSQL, in a new VPC across three AZs (two where the region has "
        "two for Fargate) or an existing one."
    ),
    template_name="cloud-optimizer-production",
    parameters_name="production",
    availability_zones=3,
    customer_chooses_azs=True,
    nat_gateway_per_az=True,
    certificate_required=True,
    deletion_protection=True,
    db_instance_class="db.m6g.large",
    db_allocated_storage_gib=100,
    db_max_allocated_storage_gib=1000,
    db_backup_retention_days=14,
    db_multi_az=True,
    db_performance_insights=True,
    db_snapshot_on_delete=True,
    # One vCPU per task, capacity by count: the same 12 vCPU at most as 6 tasks of 2 vCPU
    # before, and a saturated task now reports ~100% CPU, so the 60% target is reachable.
    task_size="1vCPU-2GB",
    desired_count=2,
    max_count=12,
    log_retention_days=365,
    platform_options=True,
)

PROFILES: tuple[Profile, ...] = (TRIAL, PRODUCTION)


@dataclass(frozen=True, slots=True)
class Listing:
    """What the AWS Marketplace listing fixes when the templates are built for it.

    The product code turns licensing on (the service calls RegisterUsage with it and stops
    on refusal). It belongs to the listing, not to whoever launches the stack, so it is
    baked into the published templates (``build_templates.py --marketplace-product-code``)
    and never a stack parameter.
    """

    product_code: str | None = None


#: A build for no listing (the committed out/, development, private uploads): no licensing.
UNLISTED = Listing()
#: The most AZs any profile spans: the nested VPC and ALB templates are built for it.
MAX_AZS = max(p.availability_zones for p in PROFILES)
