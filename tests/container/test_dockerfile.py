"""docker/Dockerfile read as text: the contract's numbers, the pins, the build's promises.

These run everywhere (no container tools needed); test_image_run.py proves the same
things on the built image.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import contract
from tests.container import docker_images, image_probes, images
from tests.container.dockerfile import (
    Instruction,
    healthcheck_command,
    only,
    parse_dockerfile,
    parse_flags,
    runtime,
    seconds,
)
from tests.support.net import free_port

DIGEST_PIN = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(images.DOCKERFILE)


def test_base_image_is_an_arg_pinned_by_digest(dockerfile: list[Instruction]) -> None:
    args = [i for i in dockerfile if i.keyword == "ARG" and i.stage == 0]
    defaults = dict(a.args.split("=", 1) for a in args if "=" in a.args)
    base = defaults["PYTHON_IMAGE"]
    assert DIGEST_PIN.match(base), base
    assert ":3.11" in base  # the interpreter the runtime lock was made for
    froms = [i for i in dockerfile if i.keyword == "FROM"]
    assert len(froms) == 2  # a build stage and a runtime stage
    assert all(i.args.split()[0] == "${PYTHON_IMAGE}" for i in froms)


def test_build_stage_installs_the_lock_with_hashes_and_validates_the_kb(
    dockerfile: list[Instruction],
) -> None:
    build = [i for i in dockerfile if i.stage == 1 and i.keyword == "RUN"]
    text = " ".join(i.args for i in build)
    pip_commands = re.findall(r"pip (?:--python \S+ )?(?:wheel|install)[^&]*", text)
    assert len(pip_commands) == 2
    for cmd in pip_commands:
        assert "--require-hashes" in cmd
        assert "-r requirements/runtime.txt" in cmd
        assert "--no-cache-dir" in cmd
    assert "python -m service.kb validate compliance/" in text
    assert "compileall" in text


def test_runtime_stage_runs_no_installer(dockerfile: list[Instruction]) -> None:
    text = " ".join(i.args for i in runtime(dockerfile) if i.keyword == "RUN")
    for word in ("pip install", "apt-get", "apt ", "gcc", "curl", "wget"):
        assert word not in text


def test_expose_matches_the_contract_port(dockerfile: list[Instruction]) -> None:
    assert only(runtime(dockerfile), "EXPOSE").args == str(contract.PORT)


def test_runs_as_the_contracts_user_with_exec_form_entrypoint(
    dockerfile: list[Instruction],
) -> None:
    stage = runtime(dockerfile)
    assert only(stage, "USER").args == f"{contract.CONTAINER_UID}:{contract.CONTAINER_GID}"
    assert json.loads(only(stage, "ENTRYPOINT").args) == ["python", "-m", "service"]
    assert only(stage, "STOPSIGNAL").args == "SIGTERM"


def test_healthcheck_timings_and_path_match_the_contract(dockerfile: list[Instruction]) -> None:
    flags, argv = healthcheck_command(dockerfile)
    assert seconds(flags["interval"]) == contract.PROBE_INTERVAL
    assert seconds(flags["timeout"]) == contract.PROBE_TIMEOUT
    # The same budget as the Kubernetes startup probe: time for a first migration.
    assert seconds(flags["start-period"]) == (
        contract.PROBE_INTERVAL * contract.STARTUP_PROBE_FAILURE_THRESHOLD
    )
    assert seconds(flags["start-period"]) == contract.CONTAINER_HEALTH_CHECK_START_PERIOD
    assert int(flags["retries"]) == contract.HEALTH_CHECK_RETRIES
    # The ECS task definition's command, from the same definition (templates_src/ecs.py).
    assert argv == list(contract.HEALTH_CHECK_COMMAND)
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    assert f"'{contract.HEALTH_PATH}'" in code
    assert f"os.environ.get('{contract.ENV_PORT}', '{contract.PORT}')" in code
    request_timeout = float(re.search(r"timeout=(\d+(?:\.\d+)?)", code).group(1))  # type: ignore[union-attr]
    assert request_timeout < contract.PROBE_TIMEOUT


def test_oci_version_label_default_matches_the_contract(dockerfile: list[Instruction]) -> None:
    args = [i.args for i in runtime(dockerfile) if i.keyword == "ARG"]
    assert f"VERSION={contract.VERSION}" in args
    labels = " ".join(i.args for i in runtime(dockerfile) if i.keyword == "LABEL")
    assert f'org.opencontainers.image.title="{contract.APP_NAME}"' in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels


class _Probe(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == contract.HEALTH_PATH else 404
        self.send_response(code)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_service() -> Iterator[tuple[int, type[_Probe]]]:
    handler = type("Handler", (_Probe,), {"status": 200})
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port, handler
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(argv: list[str], port: int) -> int:
    env = {**os.environ, contract.ENV_PORT: str(port)}
    cmd = [sys.executable, *argv[1:]]  # the image's `python` is this interpreter's peer
    return subprocess.run(cmd, env=env, capture_output=True, timeout=30, check=False).returncode


def test_healthcheck_command_passes_on_200_and_fails_otherwise(
    dockerfile: list[Instruction], fake_service: tuple[int, type[_Probe]]
) -> None:
    _flags, argv = healthcheck_command(dockerfile)
    port, handler = fake_service
    assert run_healthcheck(argv, port) == 0
    handler.status = 503
    assert run_healthcheck(argv, port) != 0
    assert run_healthcheck(argv, free_port()) != 0  # nothing listening


def dockerignore_allowlist() -> list[str]:
    lines = images.DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "the ignore file is an allowlist: everything out, then some in"
    return [rule[1:].rstrip("/") for rule in rules if rule.startswith("!")]


def test_dockerignore_lets_in_exactly_the_image_inputs() -> None:
    allowed = set(dockerignore_allowlist())
    # The runtime image's inputs, which the test build's cache key hashes, plus the dev
    # image's lock files (docker/Dockerfile.dev).
    dev_locks = {"requirements/dev.txt", "requirements/dev-image.txt", "requirements/scanners.txt"}
    assert allowed == {*images.IMAGE_INPUTS, *dev_locks}


def test_every_copy_source_is_let_in_by_dockerignore(dockerfile: list[Instruction]) -> None:
    allowed = dockerignore_allowlist()
    dev = parse_dockerfile(images.REPO_ROOT / "docker" / "Dockerfile.dev")
    for inst in [*dockerfile, *dev]:
        if inst.keyword != "COPY" or "--from=" in inst.args:
            continue
        _flags, rest = parse_flags(inst.args)
        sources = shlex.split(rest)[:-1]
        for source in sources:
            src = source.rstrip("/")
            assert any(src == a or src.startswith(a + "/") for a in allowed), src
            assert (images.REPO_ROOT / src).exists(), src


def test_image_declares_and_owns_exactly_the_contracts_writable_paths(
    dockerfile: list[Instruction],
) -> None:
    """Fargate populates a task volume from the image only where the image declares a VOLUME
    at the mount's containerPath (docker/Dockerfile's comment cites the rule)."""
    volumes = json.loads(only(runtime(dockerfile), "VOLUME").args)
    assert volumes == list(contract.CONTAINER_WRITABLE_PATHS)
    assert list(contract.CONTAINER_WRITABLE_PATHS) == image_probes.WRITABLE_PATHS
    setup = " ".join(i.args for i in runtime(dockerfile) if i.keyword == "RUN")
    for path in contract.CONTAINER_WRITABLE_PATHS:
        assert f"chown {contract.CONTAINER_UID}:{contract.CONTAINER_GID} {path}" in setup


@pytest.mark.parametrize(
    "path", [images.DOCKERFILE, images.REPO_ROOT / "docker" / "Dockerfile.dev"]
)
def test_every_pip_install_takes_the_ca_as_a_buildkit_secret_not_a_layer(path: Path) -> None:
    """pip's CA behind a proxy is the secret `pip-ca`, mounted for the RUN that needs it."""
    installs = re.compile(r"pip (?:--python \S+ )?(?:install|wheel) ")
    runs = [
        i.args for i in parse_dockerfile(path) if i.keyword == "RUN" and installs.search(i.args)
    ]
    assert runs
    for args in runs:
        flags, _ = parse_flags(args)
        assert flags.get("mount") == (
            f"type=secret,id={docker_images.PIP_CA_SECRET},"
            f"target=/run/secrets/{docker_images.PIP_CA_SECRET},required=false"
        ), args[:120]
    text = path.read_text(encoding="utf-8")
    assert "ARG PIP_CERT" not in text  # no build argument can put a path to it in the history
    assert "ca-certificates.crt" not in text


def test_dev_image_has_a_hot_reload_target_and_a_test_stack_target() -> None:
    dev = parse_dockerfile(images.REPO_ROOT / "docker" / "Dockerfile.dev")
    stages = [i.args.split()[-1] for i in dev if i.keyword == "FROM"]
    assert stages == ["test-stack", "dev"]  # dev last: the default target
    final = runtime(dev)
    assert json.loads(only(final, "ENTRYPOINT").args)[:2] == ["python", "docker/dev_reload.py"]
    copied = " ".join(i.args for i in final if i.keyword == "COPY")
    assert copied.split()[0] == "requirements/dev-image.txt"  # not the test tooling's lock
    installs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert "-r /tmp/requirements-dev-image.txt" in installs
    assert "dev.txt" not in installs
    assert "apt-get" not in installs


def _pins(lock: Path) -> dict[str, str]:
    return dict(
        line.split(" ")[0].split("==")
        for line in lock.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    )


def test_the_dev_image_runs_the_product_images_packages_plus_the_reloader_only() -> None:
    """Hot reload exercises the same package versions the product image ships."""
    runtime_pins = _pins(images.REPO_ROOT / "requirements" / "runtime.txt")
    dev_image_pins = _pins(images.REPO_ROOT / "requirements" / "dev-image.txt")
    assert {name: dev_image_pins.get(name) for name in runtime_pins} == runtime_pins
    assert set(dev_image_pins) - set(runtime_pins) == {"watchfiles"}
