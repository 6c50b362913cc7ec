"""The chart's pods, rendered by the real Helm library and run for real with podman kube play.

Nothing here has a cluster; `podman kube play` runs Kubernetes pod specs (podman_play.py
lists what it emulates and the gaps it fills). With the dev values pointing at a fresh
database on the local PostgreSQL and the image built from this tree
(tests/container/images.py), the migration Job's pod and then the Deployment with its
ConfigMap and Secrets run as rendered. The tests check what a kubelet would make of them:
the security context from inside the pod, the Job migrating once (in the database), the
readiness path answering through the pod, the liveness probe as podman's health check,
and a stop within the grace period exiting 0. Then the same for the hook-free mode, the
defaults refusing to start with the service's one-line error, and a password rotation in
the default externalSecret mode under load (point 10).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import psycopg
import pytest
from localstack_client.session import Session

from service import contract
from service.config import DEFAULT_MIGRATIONS_DIR
from service.migrate import expected_migration_ids
from tests.container import images
from tests.helm import podman_play
from tests.helm.chart import Manifest, merge, only, pod_spec, render, values_file
from tests.ops.loadbalancer import MAX_RUN_SECONDS, Load, TargetGroup, describe_failures
from tests.ops.test_secret_rotation import (
    APP_DATABASE,
    LOCK_SECONDS,
    REQUESTS_PER_PHASE,
    SPIKE,
    app_connections_since,
    create_app_database,
    new_password,
    require_passwords,
    rotate,
    secret_document,
)
from tests.support.net import free_port
from tests.support.pg import PostgresCluster, scratch_database
from tests.support.process import API_TOKEN

pytestmark = [pytest.mark.slow, pytest.mark.container]

READY_TIMEOUT = 90.0
# What the chart's pods get in these runs besides their rendered spec: nothing secret
# comes from a file, as in production; the values are the operator's --set.
APP_TOKEN = "chart-pods-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def play(tmp_path_factory: pytest.TempPathFactory) -> Iterator[podman_play.KubePlay]:
    missing = podman_play.missing_tools()
    if missing:
        pytest.skip(
            f"no {', '.join(missing)} on this machine: the chart's pods cannot run here "
            "(scripts/dev.sh test installs them with apt)"
        )
    with podman_play.kube_play(tmp_path_factory.mktemp("kube-play")) as kube:
        yield kube


@pytest.fixture(scope="module")
def image(play: podman_play.KubePlay) -> Iterator[str]:
    name = podman_play.pinned_image()
    yield name
    # The tag only pinned the image for this module; the store keeps the image itself.
    play.podman("untag", name, name, check=False)


def image_values(image: str) -> dict[str, Any]:
    registry, rest = image.split("/", 1)
    repository, tag = rest.rsplit(":", 1)
    return {
        "image": {
            "registry": registry,
            "repository": repository,
            "tag": tag,
            "pullPolicy": "IfNotPresent",
        }
    }


def new_release() -> str:
    return "ch" + uuid.uuid4().hex[:8]


def database_values(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "database": {
            "host": parts.hostname,
            "port": parts.port or contract.DB_DEFAULT_PORT,
            "name": parts.path.lstrip("/"),
            "sslmode": "disable",
        }
    }


def create_secrets(play: podman_play.KubePlay, manifests: list[Manifest]) -> None:
    for manifest in manifests:
        if manifest.kind == "Secret":
            play.create_secret(manifest.name, manifest.body["data"])


def deployment_pod(release: str) -> str:
    """podman names a Deployment's pod <name>-pod-0 and its containers <pod>-<container>."""
    return f"{release}-cloud-optimizer-pod-0"


def run_job(play: podman_play.KubePlay, manifests: list[Manifest], release: str) -> tuple[str, int]:
    """Play the migration Job's pod and wait for it to finish; (container, exit code)."""
    job = only(manifests, "Job")
    pod = f"{release}-migrate-pod"
    play.play(pod, [play.for_podman(job, pod)])
    name = f"{pod}-migrate"
    return name, play.wait_for_exit(name, timeout=180)


def run_deployment(play: podman_play.KubePlay, manifests: list[Manifest], release: str) -> None:
    documents = [
        only(manifests, "ConfigMap").body,
        play.for_podman(only(manifests, "Deployment"), deployment_pod(release)),
    ]
    play.play(f"{release}-deployment", documents)


def wait_ready(play: podman_play.KubePlay, url: str, container: str) -> float:
    started = time.monotonic()
    took = images.wait_for_status(url + contract.READY_PATH, 200, READY_TIMEOUT, started)
    assert took is not None, f"{url} not ready in {READY_TIMEOUT}s:\n{play.logs(container)[-4000:]}"
    return took


def yoyo_applies(database_url: str) -> dict[str, int]:
    """How often each migration was applied, from yoyo's own log."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT migration_id, count(*) FROM _yoyo_log WHERE operation = 'apply' "
            "GROUP BY migration_id"
        ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


# --- The hook mode: the migration Job, then the Deployment ------------------------------


@dataclass
class Release:
    name: str
    manifests: list[Manifest]
    database_url: str
    url: str
    job_container: str
    job_exit: int
    service_container: str
    pod: str


@pytest.fixture(scope="module")
def release(play: podman_play.KubePlay, image: str, pg_admin_url: str) -> Iterator[Release]:
    name = new_release()
    port = free_port()
    with scratch_database(pg_admin_url, prefix="co_chart_pods") as database_url:
        values = merge(values_file("values-dev.yaml"), image_values(image))
        values = merge(values, database_values(database_url))
        values = merge(
            values,
            {
                "containerPort": port,
                "secrets": {
                    "inline": {
                        "databaseUsername": urlsplit(database_url).username or "postgres",
                        # The shared server trusts local connections; any password will do.
                        "databasePassword": "trust-auth",
                        "appSecret": APP_TOKEN,
                    }
                },
            },
        )
        manifests = render(values, release=name)
        create_secrets(play, manifests)
        started = time.monotonic()
        job_container, job_exit = run_job(play, manifests, name)
        job_seconds = time.monotonic() - started
        run_deployment(play, manifests, name)
        pod = deployment_pod(name)
        service = f"{pod}-cloud-optimizer"
        url = f"http://127.0.0.1:{port}"
        if job_exit == 0:
            ready = wait_ready(play, url, service)
            print(
                f"\n[chart pods] migration Job pod {job_seconds:.1f} s to exit {job_exit}; "
                f"Deployment pod /ready 200 {ready:.1f} s after kube play"
            )
        yield Release(name, manifests, database_url, url, job_container, job_exit, service, pod)


def test_the_migration_job_migrates_once(play: podman_play.KubePlay, release: Release) -> None:
    assert release.job_exit == 0, release.job_container
    expected = set(expected_migration_ids(DEFAULT_MIGRATIONS_DIR))
    applies = yoyo_applies(release.database_url)
    # Every migration applied, each exactly once: by the Job, not again by the service pod.
    assert set(applies) == expected
    assert set(applies.values()) == {1}
    messages = [str(r.get("message", "")) for r in play.records(release.service_container)]
    assert "migrations at head (0 applied now)" in messages


def test_the_pods_start_as_the_security_context_says(
    play: podman_play.KubePlay, release: Release
) -> None:
    rendered = pod_spec(only(release.manifests, "Deployment"))
    uid = rendered["securityContext"]["runAsUser"]
    gid = rendered["securityContext"]["runAsGroup"]
    assert (uid, gid) == (contract.CONTAINER_UID, contract.CONTAINER_GID)
    identity = (
        play.exec(release.service_container, "id", "-u").stdout.strip(),
        play.exec(release.service_container, "id", "-g").stdout.strip(),
    )
    assert identity == (str(uid), str(gid))
    status = play.exec(release.service_container, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    # No capabilities at all (capabilities.drop ALL) and no privilege escalation.
    for capability_set in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(fields[capability_set], 16) == 0, capability_set
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Uid"].split() == [str(uid)] * 4
    # A read-only root file system; /tmp (the emptyDir) is writable.
    denied = play.exec(release.service_container, "touch", "/app/written", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    play.exec(release.service_container, "touch", "/tmp/written")
    inspected = play.inspect(release.service_container)
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert inspected["Config"]["User"] == f"{uid}:{gid}"
    writable = sorted(m["Destination"] for m in inspected["Mounts"] if m.get("RW"))
    assert writable == ["/tmp"]
    # The migration Job's pod ran under the same context.
    job = play.inspect(release.job_container)
    assert job["HostConfig"]["ReadonlyRootfs"] is True
    assert job["Config"]["User"] == f"{uid}:{gid}"


def test_ready_answers_through_the_pod(release: Release) -> None:
    response = httpx.get(release.url + contract.READY_PATH, timeout=5)
    assert response.status_code == 200
    assert httpx.get(release.url + contract.HEALTH_PATH, timeout=5).status_code == 200


def test_the_liveness_probe_reports_healthy(play: podman_play.KubePlay, release: Release) -> None:
    probe = pod_spec(only(release.manifests, "Deployment"))["containers"][0]["livenessProbe"]
    check = play.inspect(release.service_container)["Config"]["Healthcheck"]
    port = urlsplit(release.url).port
    assert f"http://localhost:{port}{contract.HEALTH_PATH}" in " ".join(check["Test"])
    assert check["Interval"] == probe["periodSeconds"] * 1_000_000_000
    assert check["Retries"] == probe["failureThreshold"]
    code, output = play.healthcheck(release.service_container)
    assert code == 0, output
    assert play.inspect(release.service_container)["State"]["Health"]["Status"] == "healthy"


def test_the_shim_would_report_a_failing_probe(
    play: podman_play.KubePlay, release: Release
) -> None:
    """The health check is live: the same probe on a path that answers 404 is unhealthy."""
    failing = play.exec(
        release.service_container, "curl", "-f", f"{release.url}/no-such-path", check=False
    )
    assert failing.returncode == 22


def test_a_pod_stopped_with_its_grace_period_exits_0(
    play: podman_play.KubePlay, release: Release
) -> None:
    grace = pod_spec(only(release.manifests, "Deployment"))["terminationGracePeriodSeconds"]
    started = time.monotonic()
    play.podman("pod", "stop", "--time", str(grace), release.pod, timeout=grace + 30)
    took = time.monotonic() - started
    state = play.inspect(release.service_container)["State"]
    assert state["ExitCode"] == 0, play.logs(release.service_container)[-3000:]
    print(f"\n[chart pods] podman pod stop --time {grace}: exit 0 after {took:.1f} s")
    # It drained and exited on its own, well before the grace period ran out (SIGKILL).
    assert took < grace
    assert took >= contract.SHUTDOWN_DELAY - 1
    messages = [str(r.get("message", "")) for r in play.records(release.service_container)]
    assert any(m.startswith("SIGTERM received") for m in messages)


# --- The hook-free mode (migration.mode=initContainer, the EKS add-on values) ------------


def test_init_container_mode_migrates_before_the_service_serves(
    play: podman_play.KubePlay, image: str, pg_admin_url: str
) -> None:
    name = new_release()
    port = free_port()
    with scratch_database(pg_admin_url, prefix="co_chart_init") as database_url:
        values = merge(values_file("values-dev.yaml"), values_file("values-eks-addon.yaml"))
        values = merge(values, image_values(image))
        values = merge(values, database_values(database_url))
        values = merge(
            values,
            {
                "containerPort": port,
                "secrets": {
                    "inline": {
                        "databaseUsername": "postgres",
                        "databasePassword": "x",
                        "appSecret": APP_TOKEN,
                    }
                },
            },
        )
        manifests = render(values, release=name)
        assert not [m for m in manifests if m.hook_events]
        create_secrets(play, manifests)
        run_deployment(play, manifests, name)
        service = f"{deployment_pod(name)}-cloud-optimizer"
        wait_ready(play, f"http://127.0.0.1:{port}", service)
        applies = yoyo_applies(database_url)
        assert set(applies) == set(expected_migration_ids(DEFAULT_MIGRATIONS_DIR))
        assert set(applies.values()) == {1}
        messages = [str(r.get("message", "")) for r in play.records(service)]
        # The init container migrated; the service itself did not try.
        assert "step 4: run migrations skipped (AUTO_MIGRATE is off)" in messages
        play.podman("pod", "stop", "--time", "1", deployment_pod(name), check=False)


# --- The defaults: the pods refuse to start, naming what is missing (point 2) ----------


def test_default_values_pods_refuse_to_start_with_the_one_line_configuration_error(
    play: podman_play.KubePlay, image: str
) -> None:
    name = new_release()
    manifests = render(merge(image_values(image), {"containerPort": free_port()}), release=name)
    # What the External Secrets Operator would write from the ExternalSecrets rendered.
    for manifest in manifests:
        if manifest.kind == "ExternalSecret" and not manifest.hook_events:
            keys = [entry["secretKey"] for entry in manifest.body["spec"]["data"]]
            play.create_secret_values(
                manifest.body["spec"]["target"]["name"], {k: "synced" for k in keys}
            )
    # The Deployment's pod template, once, as a pod that is not restarted: a kubelet would
    # restart it in a loop (CrashLoopBackOff) with the same exit code and line each time.
    deployment = only(manifests, "Deployment")
    template = deployment.body["spec"]["template"]
    pod = f"{name}-defaults"
    once = Manifest(
        deployment.template,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**template["metadata"], "name": pod},
            "spec": {**template["spec"], "restartPolicy": "Never"},
        },
    )
    play.play(pod, [only(manifests, "ConfigMap").body, play.for_podman(once, pod)])
    container = f"{pod}-cloud-optimizer"
    assert play.wait_for_exit(container, timeout=60) == contract.EXIT_CONFIG
    errors = [r for r in play.records(container) if r.get("level") == "ERROR"]
    assert len(errors) == 1, errors
    message = str(errors[0]["message"])
    assert message.startswith("invalid configuration: ")
    # The default keys reach the pods as DB_SECRET_ARN (followRotation) beside the synced
    # credentials, which need DB_HOST; and a key that is a name needs a region.
    assert f"{contract.ENV_DB_HOST}=missing" in message
    assert f"{contract.ENV_AWS_REGION}=missing" in message
    assert "synced" not in play.logs(container)
    assert "Traceback" not in play.logs(container)


# --- Rotation in the default externalSecret mode under load (point 10) ----------------


@dataclass
class ReadinessProbeTargets(TargetGroup):
    """The pod as a Kubernetes Service sees it: it leaves the endpoints after the rendered
    readinessProbe's failureThreshold consecutive failures, each allowed timeoutSeconds,
    and returns after one success (the kubelet's readiness semantics). It is checked every
    CHECK_INTERVAL, far more often than the probe's period, so nothing hides between
    checks. tests/ops' TargetGroup drops a target on one check slower than 1 s, which a
    busy 2-core machine can produce while the service re-reads a rotated secret."""

    timeout: float = float(contract.PROBE_TIMEOUT)
    threshold: int = 2
    _misses: dict[str, int] = field(default_factory=dict)

    def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=self.timeout, limits=limits) as client:
            deadline = time.monotonic() + MAX_RUN_SECONDS
            while not self._stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    targets = list(self._targets)
                for url in targets:
                    up = self._check(client, url)
                    with self._lock:
                        self._misses[url] = 0 if up else self._misses.get(url, 0) + 1
                        if up and url in self._targets:
                            self._healthy.add(url)
                        elif self._misses[url] >= self.threshold:
                            self._healthy.discard(url)
                self.checks += 1
                self._stop.wait(self.interval)


@contextmanager
def behind_a_service(probe: dict[str, Any], workers: int) -> Iterator[tuple[TargetGroup, Load]]:
    group = ReadinessProbeTargets(
        timeout=float(probe["timeoutSeconds"]), threshold=int(probe["failureThreshold"])
    ).start()
    load = Load(group, workers=workers)
    try:
        yield group, load
    finally:
        load.stop()
        group.stop()


def external_secret_stand_in(
    play: podman_play.KubePlay, manifests: list[Manifest], client: Any
) -> None:
    """What the External Secrets Operator does with the chart's ExternalSecrets: read each
    remoteRef from Secrets Manager (the emulator) and write the target Secret."""
    for manifest in manifests:
        if manifest.kind != "ExternalSecret":
            continue
        values = {}
        for entry in manifest.body["spec"]["data"]:
            ref = entry["remoteRef"]
            text = client.get_secret_value(SecretId=ref["key"])["SecretString"]
            values[entry["secretKey"]] = (
                json.loads(text)[ref["property"]] if "property" in ref else text
            )
        play.create_secret_values(manifest.body["spec"]["target"]["name"], values)


def test_external_secret_mode_follows_a_password_rotation_with_no_failed_request(
    play: podman_play.KubePlay,
    image: str,
    private_postgres: PostgresCluster,
    aws: str,
    aws_clients: Session,
) -> None:
    old, new = new_password("old"), new_password("new")
    require_passwords(private_postgres)
    admin_url = create_app_database(private_postgres, old)
    client = aws_clients.client("secretsmanager")
    # The chart's default keys, secret names (not ARNs): the default install must follow
    # the rotation, with the pods given the names to re-read.
    keys = values_file("values.yaml")["secrets"]["externalSecret"]
    secret_name = keys["database"]["key"]
    client.create_secret(Name=secret_name, SecretString=secret_document(private_postgres, old))
    # The token the load's requests carry (tests/ops/loadbalancer.py sends AUTH_HEADERS).
    client.create_secret(Name=keys["appSecret"]["key"], SecretString=API_TOKEN)
    name, port = new_release(), free_port()
    values = merge(
        values_file("values-dev.yaml"),
        {
            **image_values(image),
            "containerPort": port,
            "config": {"awsRegion": "us-east-1"},
            "database": {
                "host": "127.0.0.1",
                "port": private_postgres.port,
                "name": APP_DATABASE,
                "sslmode": "disable",
            },
            # The defaults otherwise (values-dev.yaml chooses inline): followRotation and
            # the name keys. config.awsRegion above stands in for the AWS_REGION that EKS
            # injects with IRSA or Pod Identity; a name needs it.
            "secrets": {"source": "externalSecret"},
            # The emulator instead of AWS, and its credentials (it checks none).
            "extraEnvVars": [
                {"name": "AWS_ENDPOINT_URL", "value": aws},
                {"name": "AWS_ACCESS_KEY_ID", "value": "testing"},
                {"name": "AWS_SECRET_ACCESS_KEY", "value": "testing"},
            ],
            # Test-speed drain, as in tests/ops.
            "shutdown": {
                "preStopSleepSeconds": 1,
                "shutdownDelaySeconds": 1,
                "gracefulTimeoutSeconds": 6,
                "terminationGracePeriodSeconds": 10,
            },
        },
    )
    manifests = render(values, release=name)
    deployment_env = {
        e["name"]: e for e in pod_spec(only(manifests, "Deployment"))["containers"][0]["env"]
    }
    assert deployment_env[contract.ENV_DB_SECRET_ARN]["value"] == secret_name
    assert deployment_env[contract.ENV_APP_SECRET_ARN]["value"] == keys["appSecret"]["key"]
    assert "secretKeyRef" in deployment_env[contract.ENV_DB_PASSWORD]["valueFrom"]
    external_secret_stand_in(play, manifests, client)
    job_container, job_exit = run_job(play, manifests, name)
    assert job_exit == 0, play.logs(job_container)[-3000:]
    run_deployment(play, manifests, name)
    service = f"{deployment_pod(name)}-cloud-optimizer"
    url = f"http://127.0.0.1:{port}"
    wait_ready(play, url, service)
    started_at = play.inspect(service)["State"]["StartedAt"]

    probe = pod_spec(only(manifests, "Deployment"))["containers"][0]["readinessProbe"]
    with behind_a_service(probe, workers=2) as (group, load):
        group.register(url)
        group.wait_until_healthy(url)
        load.start()
        load.wait_for_successes(REQUESTS_PER_PHASE)
        rotated_at = time.time()
        rotate(admin_url, aws, secret_name, private_postgres, new)
        # The operator syncs the new value into the Secret; the running pod's env keeps
        # the old one, as a kubelet's would.
        external_secret_stand_in(play, [m for m in manifests if m.kind == "ExternalSecret"], client)
        load.wait_for_successes(REQUESTS_PER_PHASE)
        # Writers pile up behind a table lock, each holding a connection, so the pool
        # must open new ones, which the database now checks against the new password.
        with psycopg.connect(admin_url) as locker:
            locker.execute("LOCK TABLE co.assessment IN EXCLUSIVE MODE")
            spike = threading.Thread(target=load.burst, args=(SPIKE,), daemon=True)
            spike.start()
            time.sleep(LOCK_SECONDS)
        spike.join(timeout=60)
        assert not spike.is_alive()
        load.wait_for_successes(REQUESTS_PER_PHASE)
        load.stop()

    failures = load.failures()
    outcomes = load.snapshot()
    if failures:
        window = (
            f"{failures[0].started - rotated_at:+.1f} s to {failures[-1].ended - rotated_at:+.1f} s"
        )
        print(f"\n[failures {window} around the rotation]\n{play.logs(service)[-6000:]}")
    assert failures == [], (
        f"{len(failures)} of {len(outcomes)} failed:\n{describe_failures(failures)}"
    )
    assert sum(o.method == "POST" for o in outcomes if o.started > rotated_at) >= SPIKE
    assert app_connections_since(admin_url, rotated_at) >= 1
    state = play.inspect(service)
    assert state["State"]["StartedAt"] == started_at, "the pod's container restarted"
    assert state["RestartCount"] == 0
    messages = [str(r.get("message", "")) for r in play.records(service)]
    assert any("rejected the credentials" in m for m in messages), "the rotation was met"
    assert any("pool rebuilt with refreshed credentials" in m for m in messages)
    text = play.logs(service) + play.logs(job_container)
    for password in (old, new):
        for form in {password, quote(password, safe=""), json.dumps(password)[1:-1]}:
            assert form not in text, "a password reached a log"
    print(
        f"\nchart pod rotation: {len(outcomes)} requests, 0 failed; "
        f"{app_connections_since(admin_url, rotated_at)} connections with the new password; "
        "same container"
    )
    play.podman("pod", "stop", "--time", "10", deployment_pod(name), check=False)
