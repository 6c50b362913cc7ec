"""The generated ECS task definition, read and turned into the `docker run` Fargate would do.

out/nested/ecs.yaml is the artefact customers deploy. This module takes its container
definition, resolves the intrinsics (Ref, Fn::Sub, ...) to test values, and maps each
setting onto Docker as Fargate applies it, so that the image is tested against what the
platform will really run, not against a hand-written copy of it:

- ``User``, ``ReadonlyRootFilesystem``, ``LinuxParameters`` (capabilities, init process);
- ``Environment``, and ``Secrets`` resolved the way ECS resolves ``valueFrom`` for Secrets
  Manager (a whole secret, or one JSON key of it);
- ``MountPoints`` on task volumes as Fargate creates them: an empty directory owned by root
  with mode 0755, into which the ECS data plane copies the image's data when the image
  declares the same path as a ``VOLUME``
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html);
- ``HealthCheck`` (its command, run inside the container) and ``StopTimeout`` (ECS's
  default is 30 s when unset:
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.container.engine import Engine
from tests.container.images import REPO_ROOT

ECS_TEMPLATE = REPO_ROOT / "out" / "nested" / "ecs.yaml"
ECS_DEFAULT_STOP_TIMEOUT = 30
FARGATE_VOLUME_OWNER = (0, 0)
FARGATE_VOLUME_MODE = 0o755
# The Secrets Manager ARN, then ECS's optional json-key:version-stage:version-id suffix.
SECRET_VALUE_FROM = re.compile(
    r"^(arn:[\w-]+:secretsmanager:[\w-]+:\d{12}:secret:[^:]+)"
    r"(?::(?P<key>[^:]*):(?P<stage>[^:]*):(?P<version>[^:]*))?$"
)
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvedIntrinsic(Exception):
    pass


def load_template(path: Path = ECS_TEMPLATE) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def container_definition(template: Mapping[str, Any]) -> dict[str, Any]:
    """The task definition's one container (the template defines exactly one)."""
    tasks = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert len(tasks) == 1, f"expected one task definition, found {len(tasks)}"
    containers = tasks[0]["Properties"]["ContainerDefinitions"]
    assert len(containers) == 1, f"expected one container, found {len(containers)}"
    found: dict[str, Any] = containers[0]
    return found


def task_volumes(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            volumes: list[dict[str, Any]] = resource["Properties"].get("Volumes", [])
            return volumes
    return []


def resolve(value: Any, refs: Mapping[str, str]) -> Any:
    """Resolve Ref and Fn::Sub (both forms) against ``refs``; anything else must be literal."""
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        name = value["Ref"]
        if name not in refs:
            raise UnresolvedIntrinsic(f"no test value for Ref {name}")
        return refs[name]
    if set(value) == {"Fn::Sub"}:
        spec = value["Fn::Sub"]
        text, local = (spec, {}) if isinstance(spec, str) else (spec[0], spec[1])
        scope = {**refs, **{k: str(resolve(v, refs)) for k, v in local.items()}}

        def substitute(match: re.Match[str]) -> str:
            if match.group(1) not in scope:
                raise UnresolvedIntrinsic(f"no test value for ${{{match.group(1)}}}")
            return scope[match.group(1)]

        return SUB_VARIABLE.sub(substitute, text)
    intrinsic = [k for k in value if k.startswith("Fn::")]
    if intrinsic:
        raise UnresolvedIntrinsic(f"{intrinsic[0]} is not resolved by the test harness")
    return {k: resolve(v, refs) for k, v in value.items()}


def secret_value(value_from: str, get_secret_string: Callable[[str], str]) -> str:
    """A ``Secrets`` entry's value as ECS injects it from Secrets Manager.

    ``valueFrom`` is the secret's ARN, optionally followed by
    ``:json-key:version-stage:version-id``; with a key, ECS injects that key of the secret's
    JSON (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html).
    """
    match = SECRET_VALUE_FROM.match(value_from)
    if not match:
        raise ValueError(f"not a Secrets Manager valueFrom: {value_from!r}")
    if match.group("stage") or match.group("version"):
        raise ValueError(f"version stages and ids are not used here: {value_from!r}")
    text = get_secret_string(match.group(1))
    key = match.group("key")
    if not key:
        return text
    document = json.loads(text)
    return str(document[key])


@dataclass(frozen=True)
class FargateRun:
    """`docker run` options and environment for the container as Fargate would start it."""

    options: list[str]
    env: dict[str, str]
    health_command: list[str]  # exec form, CMD stripped
    stop_timeout: int
    mounts: dict[str, Path]  # containerPath -> the task volume's directory on the host


def fargate_volume(engine: Engine, image: str, container_path: str, target: Path) -> Path:
    """A task volume as Fargate hands it to a container mounting it at ``container_path``.

    An empty directory, root-owned 0755. When the image declares ``container_path`` as a
    VOLUME, the data plane copies that path's data into it, and its owner and mode with it
    (the page above: "By default, the volume permissions are set to 0755 and the owner as
    root. You can customize these permissions in the Dockerfile"). Docker's own
    ``docker cp`` archive of the path carries both, so that is what is copied here.
    """
    target.mkdir(parents=True)
    os.chown(target, *FARGATE_VOLUME_OWNER)
    target.chmod(FARGATE_VOLUME_MODE)
    config = engine.inspect("image", image)
    assert config is not None, image
    volumes = config["Config"].get("Volumes") or {}
    if container_path not in volumes:
        return target
    created = engine.docker("create", image).stdout.strip()
    try:
        archive = subprocess.run(
            ["docker", "cp", f"{created}:{container_path}", "-"],
            capture_output=True,
            check=True,
            env=engine.env(),
            timeout=120,
        ).stdout
    finally:
        engine.docker("rm", "--volumes", created, check=False)
    staging = target.parent / f".{target.name}-staging"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(staging, numeric_owner=True, filter="fully_trusted")
    copied = staging / Path(container_path).name
    info = copied.stat()
    for entry in copied.iterdir():
        shutil.move(str(entry), target / entry.name)
    os.chown(target, info.st_uid, info.st_gid)
    target.chmod(info.st_mode & 0o7777)
    shutil.rmtree(staging)
    return target


def fargate_run(
    engine: Engine,
    image: str,
    refs: Mapping[str, str],
    get_secret_string: Callable[[str], str],
    volume_root: Path,
    *,
    template: Mapping[str, Any] | None = None,
) -> FargateRun:
    """Map the container definition onto `docker run` as Fargate applies each setting."""
    template = template if template is not None else load_template()
    container = resolve(container_definition(template), refs)
    options: list[str] = []
    if container.get("User"):
        options += ["--user", container["User"]]
    if container.get("ReadonlyRootFilesystem"):
        options.append("--read-only")
    linux = container.get("LinuxParameters", {})
    for capability in linux.get("Capabilities", {}).get("Drop", []):
        options += ["--cap-drop", capability]
    for capability in linux.get("Capabilities", {}).get("Add", []):
        options += ["--cap-add", capability]
    if linux.get("InitProcessEnabled"):
        options.append("--init")
    declared = {v["Name"]: v for v in task_volumes(template)}
    mounts: dict[str, Path] = {}
    for point in container.get("MountPoints", []):
        volume = declared[point["SourceVolume"]]
        assert set(volume) == {"Name"}, f"only task (bind) volumes are emulated: {volume}"
        path = point["ContainerPath"]
        host_dir = fargate_volume(engine, image, path, volume_root / volume["Name"])
        mounts[path] = host_dir
        mount = f"type=bind,source={host_dir},target={path}"
        if point.get("ReadOnly"):
            mount += ",readonly"
        options += ["--mount", mount]
    env = {item["Name"]: str(item["Value"]) for item in container.get("Environment", [])}
    for secret in container.get("Secrets", []):
        env[secret["Name"]] = secret_value(secret["ValueFrom"], get_secret_string)
    health = container["HealthCheck"]["Command"]
    assert health[0] == "CMD", f"exec-form health check expected: {health}"
    return FargateRun(
        options=options,
        env=env,
        health_command=list(health[1:]),
        stop_timeout=int(container.get("StopTimeout", ECS_DEFAULT_STOP_TIMEOUT)),
        mounts=mounts,
    )
