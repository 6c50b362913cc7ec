"""The numbers and names that the service, the templates, the chart and the tests share.

This module imports nothing, so that the template generator can depend on it without
pulling in the service. Every port, path, timeout and environment variable name that
more than one artefact uses is defined here once.
"""

from typing import Final

VERSION: Final = "1.0.0"
APP_NAME: Final = "cloud-optimizer"

# --- HTTP -----------------------------------------------------------------------------
PORT: Final = 8000
HEALTH_PATH: Final = "/health"  # liveness: the process can serve
READY_PATH: Final = "/ready"  # readiness: dependencies up, migrations at head, KB loaded
OPENAPI_PATH: Final = "/openapi.json"

# --- Shutdown and drain (seconds) ------------------------------------------------------
# On SIGTERM the service answers 503 on READY_PATH at once and keeps serving for
# SHUTDOWN_DELAY so that a load balancer or kube-proxy notices; then it stops accepting,
# lets in-flight requests finish and exits 0 before GRACEFUL_TIMEOUT has passed.
SHUTDOWN_DELAY: Final = 10
GRACEFUL_TIMEOUT: Final = 30
# ECS: the container gets this long after SIGTERM before SIGKILL (Fargate max is 120).
CONTAINER_STOP_TIMEOUT: Final = GRACEFUL_TIMEOUT + 15
# ALB target group: how long a deregistering target keeps its in-flight connections.
DEREGISTRATION_DELAY: Final = SHUTDOWN_DELAY + 20
# Kubernetes: preStop pause before SIGTERM so endpoints are removed first.
PRESTOP_SLEEP: Final = 5
TERMINATION_GRACE_PERIOD: Final = PRESTOP_SLEEP + GRACEFUL_TIMEOUT + 15
# Rolling deployments: a replacement starts beside every old instance and no old one stops
# before its replacement is healthy (ECS 100/200; Kubernetes maxUnavailable 0).
ROLLING_MIN_HEALTHY_PERCENT: Final = 100
ROLLING_MAX_PERCENT: Final = 200

# --- Probes (seconds) ------------------------------------------------------------------
PROBE_INTERVAL: Final = 10
PROBE_TIMEOUT: Final = 5
HEALTH_CACHE_TTL: Final = 2.0  # /health re-checks dependencies at most this often

# --- Database --------------------------------------------------------------------------
DB_WAIT_TIMEOUT_DEFAULT: Final = 60
DB_DEFAULT_PORT: Final = 5432
DB_DEFAULT_NAME: Final = "cloud_optimizer"
# Amazon RDS's global certificate bundle (every commercial region's CAs), shipped in the
# image so that DB_SSLMODE=verify-full can verify an RDS endpoint's certificate:
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html
RDS_CA_BUNDLE_PATH: Final = "/opt/cloud-optimizer/certs/rds-global-bundle.pem"

# --- Environment variable names ---------------------------------------------------------
ENV_DATABASE_URL: Final = "DATABASE_URL"
ENV_DB_HOST: Final = "DB_HOST"
ENV_DB_PORT: Final = "DB_PORT"
ENV_DB_NAME: Final = "DB_NAME"
ENV_DB_USERNAME: Final = "DB_USERNAME"
ENV_DB_PASSWORD: Final = "DB_PASSWORD"  # noqa: S105 - the variable's name, not a secret
ENV_DB_SECRET_ARN: Final = "DB_SECRET_ARN"  # noqa: S105
ENV_DB_SSLMODE: Final = "DB_SSLMODE"
ENV_DB_SSLROOTCERT: Final = "DB_SSLROOTCERT"
ENV_DB_WAIT_TIMEOUT: Final = "DB_WAIT_TIMEOUT"
ENV_APP_SECRET: Final = "APP_SECRET"  # noqa: S105
ENV_APP_SECRET_ARN: Final = "APP_SECRET_ARN"  # noqa: S105
ENV_REDIS_URL: Final = "REDIS_URL"
ENV_HOST: Final = "HOST"
ENV_PORT: Final = "PORT"
ENV_LOG_LEVEL: Final = "LOG_LEVEL"
ENV_SHUTDOWN_DELAY: Final = "SHUTDOWN_DELAY"
ENV_GRACEFUL_TIMEOUT: Final = "GRACEFUL_TIMEOUT"
ENV_MARKETPLACE_PRODUCT_CODE: Final = "MARKETPLACE_PRODUCT_CODE"
ENV_AWS_REGION: Final = "AWS_REGION"
ENV_COMPLIANCE_DIR: Final = "COMPLIANCE_DIR"
ENV_MIGRATIONS_DIR: Final = "MIGRATIONS_DIR"
ENV_AUTO_MIGRATE: Final = "AUTO_MIGRATE"
ENV_APP_SECRET_OVERLAP: Final = "APP_SECRET_OVERLAP"  # noqa: S105 - a name, not a secret
ENV_MAX_BODY_BYTES: Final = "MAX_BODY_BYTES"

# --- Container health check --------------------------------------------------------------
# docker/Dockerfile's HEALTHCHECK and the ECS task definition's healthCheck, one command
# for both (tests/test_contract_literals.py holds the Dockerfiles to it): consecutive
# failures before the container counts as unhealthy, and the exec-form command. The image
# has Python but no curl; the port follows the service's own variable, PORT when it is
# unset (the ECS task sets none); the request's timeout stays under the check's, so a hung
# service is a failure.
HEALTH_CHECK_RETRIES: Final = 3
HEALTH_CHECK_COMMAND: Final = (
    "python",
    "-c",
    "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:' + "
    f"os.environ.get('{ENV_PORT}', '{PORT}') + '{HEALTH_PATH}', timeout={PROBE_TIMEOUT - 1}); "
    "sys.exit(0 if r.status == 200 else 1)",
)

# --- API (added for issue 12) --------------------------------------------------------------
# After the application secret rotates, the previous token stays accepted this many seconds
# so that clients can switch without a failed request (service.auth).
APP_SECRET_OVERLAP_DEFAULT: Final = 900
# The largest request body the service reads; a larger one is refused with 413 before it
# is buffered (service.guards).
MAX_BODY_BYTES_DEFAULT: Final = 64 * 1024
# A request body must arrive within this many seconds, else 408 (a slow body holds memory
# and a connection slot).
BODY_READ_TIMEOUT: Final = 10
# Every SQL statement of a request ends after this many seconds (PostgreSQL
# statement_timeout on the request pool), so slow queries cannot hold the pool.
STATEMENT_TIMEOUT: Final = 5

# --- Secrets Manager identifiers -----------------------------------------------------------
# DB_SECRET_ARN and APP_SECRET_ARN take what GetSecretValue's SecretId takes, "the ARN or
# name of the secret" (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).
# A name is 1-512 letters, digits and /_+=.@- (CreateSecret's Name,
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html),
# plus "!": the secrets AWS services manage are named SERVICE!..., such as RDS's rotating
# master secret rds!db-... (https://docs.aws.amazon.com/secretsmanager/latest/userguide/service-linked-secrets.html).
# An ARN is arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX (the partition
# may be aws-cn or aws-us-gov): the name and the seven characters "-" and six random ones
# Secrets Manager appends, or the name alone (a partial ARN). Group 1 is the region.
# The patterns are unanchored; each user anchors them: the service (service.config), the
# templates (the secret ARN parameters' AllowedPattern) and the chart's values.schema.json
# (kept equal by tests/helm/test_secret_keys.py and tests/test_contract_literals.py).
SECRET_NAME_CHARACTERS: Final = r"[A-Za-z0-9/_+=.@!-]"  # noqa: S105 - a pattern, no password
SECRET_NAME_PATTERN: Final = rf"{SECRET_NAME_CHARACTERS}{{1,512}}"
SECRET_ARN_PATTERN: Final = (
    rf"arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{{12}}:secret:{SECRET_NAME_CHARACTERS}{{1,519}}"
)

# --- Exit codes (sysexits.h where one fits) ----------------------------------------------
EXIT_OK: Final = 0
EXIT_USAGE: Final = 64  # bad command line
EXIT_DATA: Final = 65  # a knowledge-base file failed validation
EXIT_UNAVAILABLE: Final = 69  # the database did not answer within DB_WAIT_TIMEOUT
EXIT_OSERR: Final = 71  # the listening address could not be bound (port in use, no such address)
EXIT_SOFTWARE: Final = 70  # a migration or another startup step failed
EXIT_TEMPFAIL: Final = 75  # the migration lock could not be had in time
EXIT_NOPERM: Final = 77  # the Marketplace licence check refused
EXIT_CONFIG: Final = 78  # bad configuration or an unreadable secret

# --- Migrations (added by the service core) ---------------------------------------------
# `rollback` refused because it would drop data that exists; repeat with --force.
EXIT_ROLLBACK_REFUSED: Final = 79

# --- Container user ------------------------------------------------------------------------
# The image runs as this non-root uid:gid; ECS task definitions and the chart enforce it.
CONTAINER_UID: Final = 1000
CONTAINER_GID: Final = 1000

# --- Startup budget (templates) ----------------------------------------------------------
# One budget for a start, a long first migration included: every wait a starting replica
# does and every deadline an orchestrator puts on it derive from it, so none of them can
# kill a replica that is still within the time another one allows it.
STARTUP_BUDGET: Final = 300  # seconds from process start to serving
# Kubernetes: the startup probe fails the pod only once the whole budget has passed.
STARTUP_PROBE_FAILURE_THRESHOLD: Final = STARTUP_BUDGET // PROBE_INTERVAL
# How long a replica waits for another replica's migration lock: what the budget leaves
# after the longest wait for the database, so it exits 75 with its own message before an
# orchestrator's deadline kills it silently.
MIGRATION_LOCK_TIMEOUT: Final = STARTUP_BUDGET - DB_WAIT_TIMEOUT_DEFAULT
# Every statement of the knowledge-base load (startup step 6) may take this long, not the
# request pool's STATEMENT_TIMEOUT: it writes a whole dataset, and a replica that starts
# beside another waits on the dataset's lock for the other's whole load (the 100x bench KB's
# relation insert alone took 2.5 s on an idle 2-core machine and more than 5 s on a busy one).
DATASET_WRITE_TIMEOUT: Final = MIGRATION_LOCK_TIMEOUT
# ECS caps a container health check's startPeriod at 300 s ("HealthCheck", Amazon ECS API
# Reference: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html).
ECS_MAX_HEALTH_CHECK_START_PERIOD: Final = 300
CONTAINER_HEALTH_CHECK_START_PERIOD: Final = min(STARTUP_BUDGET, ECS_MAX_HEALTH_CHECK_START_PERIOD)
# Load balancer: consecutive successful checks before a new target receives traffic.
LB_HEALTHY_THRESHOLD: Final = 2
# ECS ignores failing load-balancer and container health checks for this long after a task
# starts (healthCheckGracePeriodSeconds): the budget plus the checks that mark it healthy.
HEALTH_CHECK_GRACE_PERIOD: Final = STARTUP_BUDGET + LB_HEALTHY_THRESHOLD * PROBE_INTERVAL

# --- Container image (added by the container engineer) ----------------------------------------
# The only paths the service writes. The image owns each (CONTAINER_UID) and declares it a
# VOLUME, so that the ECS data plane, which copies a VOLUME path's data into a task volume
# mounted at the same containerPath, hands the service a directory it can write; a task
# definition mounts a volume at each, and the chart an emptyDir.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html
CONTAINER_WRITABLE_PATHS: Final = ("/tmp",)  # noqa: S108 - a mount point, not a temp file

# --- AWS SDK (added for the image size) ------------------------------------------------------
# Every AWS service the service calls through aioboto3 (botocore's model names): Secrets
# Manager (DB_SECRET_ARN, APP_SECRET_ARN), AWS Marketplace Metering (RegisterUsage) and STS,
# which botocore's own credential chain calls for web-identity roles (EKS IRSA:
# AssumeRoleWithWebIdentity). The image keeps botocore's models of these only
# (docker/slim_site_packages.py); tests/service/test_sdk_services.py holds the code to it.
AWS_SDK_SERVICES: Final = ("secretsmanager", "meteringmarketplace", "sts")
