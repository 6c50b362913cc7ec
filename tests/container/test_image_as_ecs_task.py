"""The image run as the generated task definition (out/nested/ecs.yaml) has Fargate run it.

tests/container/task_definition.py maps the container definition onto `docker run`: its
user, read-only root, dropped capabilities and init process, its environment and its
secrets (read from the Secrets Manager emulator the way ECS resolves ``valueFrom``), and its
task volumes as Fargate creates them: empty root-owned 0755 bind mounts (not a tmpfs),
populated from the image's VOLUME as the ECS data plane does. The emulator is the compose
stack's (seeded as RDS attaches its secret) and RDS is a PostgreSQL serving TLS with a
certificate from a test CA, on a compose network of their own, as the task's awsvpc
interface reaches Secrets Manager and RDS; when the task definition sets DB_SSLROOTCERT, the
test CA is mounted at that path in place of the RDS bundle. Then the task definition's own health
check command runs inside the container, and `docker stop -t StopTimeout` must drain and
exit 0 within it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service import contract
from tests.container import compose, docker_images, images, task_definition, tls_postgres
from tests.container.conftest import DockerImage
from tests.container.engine import Engine
from tests.support.aws import FAKE_CREDENTIALS, REGION
from tests.support.net import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]

PROJECT = "co-task"
NETWORK = f"{PROJECT}_default"
DB_SECRET_NAME = "cloud-optimizer/database"  # what the compose stack's aws-seed creates
# RDS's stand-in: a PostgreSQL serving TLS with a certificate for this name, signed by a test
# CA, with the credentials the seeded secret holds (docker-compose.yml's defaults).
RDS_ALIAS = "rds"
RDS_USER = "cloud_optimizer"
RDS_PASSWORD = "local-only-not-a-secret"
# Inside the task's network: the emulator as the compose file names it. On ECS the SDK
# reaches Secrets Manager with the task role's credentials; here the emulator's stand-ins.
EMULATOR_ENV = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": "http://aws:5000"}


@dataclass
class AwsSide:
    """The compose stack's PostgreSQL and Secrets Manager emulator, as the task sees them."""

    project: compose.Compose

    def python(self, code: str) -> Any:
        """Run ``code`` with boto3 in the emulator's container; return its JSON output."""
        env = [a for k, v in FAKE_CREDENTIALS.items() for a in ("--env", f"{k}={v}")]
        out = self.project.run("exec", "-T", *env, "aws", "python3", "-c", code, timeout=120).stdout
        return json.loads(out)

    def secret_string(self, arn: str) -> str:
        code = (
            "import boto3, json; c = boto3.client('secretsmanager', "
            "endpoint_url='http://127.0.0.1:5000'); "
            f"print(json.dumps(c.get_secret_value(SecretId={arn!r})['SecretString']))"
        )
        value: str = self.python(code)
        return value

    def create_secret(self, name: str, value: str) -> str:
        code = (
            "import boto3, json; c = boto3.client('secretsmanager', "
            "endpoint_url='http://127.0.0.1:5000'); "
            f"print(json.dumps(c.create_secret(Name={name!r}, SecretString={value!r})['ARN']))"
        )
        arn: str = self.python(code)
        return arn

    def secret_arn(self, name: str) -> str:
        code = (
            "import boto3, json; c = boto3.client('secretsmanager', "
            "endpoint_url='http://127.0.0.1:5000'); "
            f"print(json.dumps(c.describe_secret(SecretId={name!r})['ARN']))"
        )
        arn: str = self.python(code)
        return arn


@pytest.fixture(scope="module")
def aws_side(docker_engine: Engine, docker_image: DockerImage) -> Iterator[AwsSide]:
    project = compose.Compose(docker_engine, (compose.COMPOSE, compose.OVERRIDE), project=PROJECT)
    compose.restore_standins(docker_engine)
    try:
        project.run("up", "--build", "--wait", "--wait-timeout", "300", "aws", timeout=1800)
        # The seed is a one-shot job: `up --wait` would call its exit (0) a failure whenever
        # it ends before compose looks, so it runs to completion and its exit code is checked.
        project.run("run", "--rm", "--build", "aws-seed", timeout=600)
        yield AwsSide(project)
    finally:
        project.down()


@dataclass
class Task:
    name: str
    port: int
    run: task_definition.FargateRun
    refs: dict[str, str]
    ready_seconds: float | None
    database: tls_postgres.TlsPostgres

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def resolved_refs(aws_side: AwsSide, image: str) -> dict[str, str]:
    """What each Ref of the container definition resolves to in this test."""
    return {
        "ContainerImage": image,
        "DatabaseEndpointAddress": RDS_ALIAS,
        "DatabaseEndpointPort": str(contract.DB_DEFAULT_PORT),
        "DatabaseName": contract.DB_DEFAULT_NAME,
        "DatabaseSecretArn": aws_side.secret_arn(DB_SECRET_NAME),
        "AppSecret": aws_side.create_secret(f"co-task/app-{uuid.uuid4().hex[:6]}", "s3cr3t-app"),
        "MarketplaceProductCode": "",  # the trial: licensing off
        "LogGroup": "co-task-logs",
        "AWS::Region": REGION,
        "AWS::StackName": "co-task",
        "AWS::Partition": "aws",
        "AWS::AccountId": "123456789012",
    }


@pytest.fixture(scope="module")
def task(
    docker_engine: Engine,
    docker_image: DockerImage,
    aws_side: AwsSide,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Task]:
    refs = resolved_refs(aws_side, docker_image.name)
    run = task_definition.fargate_run(
        docker_engine,
        docker_image.name,
        refs,
        aws_side.secret_string,
        tmp_path_factory.mktemp("task-volumes"),
    )
    database = tls_postgres.start(
        docker_engine,
        NETWORK,
        RDS_ALIAS,
        tmp_path_factory.mktemp("rds-tls"),
        user=RDS_USER,
        password=RDS_PASSWORD,
        dbname=contract.DB_DEFAULT_NAME,
    )
    # With DB_SSLROOTCERT the task verifies RDS's certificate against the bundle at that path;
    # here the CA that signed the stand-in's certificate takes the bundle's place.
    bundle = run.env.get(contract.ENV_DB_SSLROOTCERT)
    ca_mount = (
        ["--mount", f"type=bind,source={database.ca.cert_path},target={bundle},readonly"]
        if bundle
        else []
    )
    name = f"co-task-{uuid.uuid4().hex[:8]}"
    port = free_port()
    started = time.monotonic()
    docker_engine.docker(
        "run",
        "--detach",
        "--name",
        name,
        "--label",
        docker_images.CONTAINER_LABEL,
        "--network",
        NETWORK,
        "--publish",
        f"127.0.0.1:{port}:{contract.PORT}",
        *run.options,
        *ca_mount,
        *docker_images.env_args({**run.env, **EMULATOR_ENV}),
        docker_image.name,
    )
    try:
        ready = images.wait_for_status(
            f"http://127.0.0.1:{port}{contract.READY_PATH}", 200, images.STARTUP_LIMIT, started
        )
        yield Task(name, port, run, refs, ready, database)
    finally:
        docker_images.remove_container(docker_engine, name, print_log_lines=40)
        docker_images.remove_container(docker_engine, database.container)


def test_task_serves_as_the_task_definition_runs_it(task: Task) -> None:
    assert task.ready_seconds is not None, "/ready not 200 as the task definition runs it"
    print(f"\n[ecs task] ready after {task.ready_seconds:.2f} s; docker run {task.run.options}")
    assert images.http_status(task.url(contract.HEALTH_PATH)) == 200


def test_task_reaches_the_database_over_tls_verified_as_the_task_definition_asks(
    docker_engine: Engine, task: Task
) -> None:
    sessions = tls_postgres.tls_sessions(
        docker_engine, task.database, RDS_USER, contract.DB_DEFAULT_NAME
    )
    sslmode = task.run.env.get(contract.ENV_DB_SSLMODE)
    print(f"\n[ecs task] DB_SSLMODE={sslmode}: {sessions} TLS sessions to the RDS stand-in")
    assert sessions >= 1
    if sslmode in ("verify-ca", "verify-full"):
        assert task.run.env[contract.ENV_DB_SSLROOTCERT] == contract.RDS_CA_BUNDLE_PATH


def test_every_process_runs_as_the_task_definitions_user(docker_engine: Engine, task: Task) -> None:
    container = task_definition.container_definition(task_definition.load_template())
    assert container["User"] == f"{contract.CONTAINER_UID}:{contract.CONTAINER_GID}"
    found = docker_images.exec_json(
        docker_engine, task.name, "python", "-c", docker_images.PROBES_SOURCE, "processes"
    )
    processes = found["processes"]
    assert isinstance(processes, list)
    service = [p for p in processes if p["cmd"][:3] == ["python", "-m", "service"]]
    assert len(service) == 1, processes
    for process in processes:
        assert set(process["uid"]) == {str(contract.CONTAINER_UID)}, process
    # InitProcessEnabled: an init is PID 1 and passes signals on to the service.
    assert processes[0]["pid"] == 1
    assert "init" in processes[0]["cmd"][0], processes[0]


def test_root_file_system_is_read_only(docker_engine: Engine, task: Task) -> None:
    info = docker_engine.inspect("container", task.name)
    assert info is not None
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    found = docker_images.exec_json(
        docker_engine, task.name, "python", "-c", docker_images.PROBES_SOURCE, "write_probe"
    )
    assert found["app_errno"] == found["erofs"]


def test_each_mount_point_is_a_root_created_task_volume_the_service_writes(
    docker_engine: Engine, task: Task
) -> None:
    """/tmp is the task volume (a bind mount of a directory Fargate made root-owned 0755,
    not a tmpfs), and the service user writes to it: the image declared it a VOLUME it owns,
    so the data plane's copy made it the service's."""
    assert sorted(task.run.mounts) == sorted(contract.CONTAINER_WRITABLE_PATHS)
    found = docker_images.exec_json(
        docker_engine, task.name, "python", "-c", docker_images.PROBES_SOURCE, "scratch"
    )
    for path, host_dir in task.run.mounts.items():
        assert found[path]["fs"] != "tmpfs", found
        assert found[path]["write_errno"] == 0, found
        written = host_dir / "probe-written-by-the-service-user"
        assert written.read_text() == str(contract.CONTAINER_UID)
        assert written.stat().st_uid == contract.CONTAINER_UID


def test_a_task_volume_the_image_does_not_declare_stays_root_owned_and_unwritable(
    docker_engine: Engine, docker_image: DockerImage, tmp_path: Path
) -> None:
    """What Fargate does without the image's VOLUME: the mount is root's, 0755, and uid 1000
    cannot write there. The reason the image declares and owns its mount points."""
    host_dir = task_definition.fargate_volume(
        docker_engine, docker_image.name, "/var/scratch", tmp_path / "scratch"
    )
    assert (host_dir.stat().st_uid, host_dir.stat().st_mode & 0o777) == (0, 0o755)
    result = docker_engine.docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        "--mount",
        f"type=bind,source={host_dir},target=/var/scratch",
        "--entrypoint",
        "python",
        docker_image.name,
        "-c",
        "open('/var/scratch/x', 'w')",
        check=False,
    )
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


def test_environment_and_secrets_are_the_task_definitions_names(
    docker_engine: Engine, task: Task
) -> None:
    info = docker_engine.inspect("container", task.name)
    assert info is not None
    env = dict(item.split("=", 1) for item in info["Config"]["Env"])
    container = task_definition.container_definition(task_definition.load_template())
    names = {e["Name"] for e in container["Environment"]} | {
        s["Name"] for s in container["Secrets"]
    }
    image_env = {"PATH", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "HOME"}
    assert set(env) - image_env - (set(EMULATOR_ENV) - names) == names
    # Injected as ECS injects them: one JSON key of the RDS secret each, and a whole secret.
    assert env[contract.ENV_DB_USERNAME] == "cloud_optimizer"
    assert env[contract.ENV_DB_PASSWORD] == "local-only-not-a-secret"
    assert env[contract.ENV_APP_SECRET] == "s3cr3t-app"
    known = {v for k, v in vars(contract).items() if k.startswith("ENV_")}
    assert names <= known, names - known  # the service reads every name it is given


def test_health_check_command_of_the_task_definition_reports_healthy(
    docker_engine: Engine, task: Task
) -> None:
    result = docker_engine.docker("exec", task.name, *task.run.health_command, check=False)
    assert result.returncode == 0, result.stderr
    assert str(contract.PORT) in " ".join(task.run.health_command)


def test_docker_stop_with_the_stop_timeout_drains_and_exits_0_within_it(
    docker_engine: Engine, task: Task
) -> None:
    assert task.run.stop_timeout == contract.CONTAINER_STOP_TIMEOUT
    started = time.monotonic()
    stop = docker_images.popen_docker(
        docker_engine, "stop", "--time", str(task.run.stop_timeout), task.name
    )
    draining = images.wait_for_status(
        task.url(contract.READY_PATH), 503, contract.SHUTDOWN_DELAY, started
    )
    stop.communicate(timeout=task.run.stop_timeout + 30)
    elapsed = time.monotonic() - started
    state = docker_images.container_state(docker_engine, task.name)
    print(
        f"\n[ecs task] docker stop -t {task.run.stop_timeout}: exit {state['ExitCode']} "
        f"after {elapsed:.1f} s"
    )
    assert draining is not None, "/ready did not turn 503 after SIGTERM (through the init)"
    assert state["ExitCode"] == 0
    assert contract.SHUTDOWN_DELAY <= elapsed < task.run.stop_timeout
