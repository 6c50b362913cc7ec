"""Run the chart's rendered pods for real with `podman kube play`, and what it leaves out.

`podman kube play` (podman 4.3 here) creates pods from Kubernetes Pod and Deployment
specs: the pod and container security contexts, env, envFrom a ConfigMap in the same
file, secretKeyRef, emptyDir volumes, the command, and the liveness probe as a health
check. It runs them with the tests' image store (tests/container/images.py) on the host
network. Where its emulation differs from a kubelet, `for_podman` adapts a copy of the
rendered spec, each change behaving as Kubernetes would:

- Secrets: podman 4.3.1 stores a Secret document from the file as YAML but reads a
  secretKeyRef's podman secret as a JSON map of base64 values; `create_secret` writes
  the Secret's data in the form podman reads.
- Ports: a containerPort under `--network host` is refused as a port mapping ("only with
  Bridge or slirp4netns"); on the host network it has no effect anyway, so it is
  dropped and named probe ports are resolved to their numbers.
- httpGet probes become `curl -f http://localhost:PORT/PATH` health checks, and the
  image has no curl: a stand-in (HTTP_PROBE_SHIM, Python's urllib with curl -f's exit
  codes and the kubelet's success range) is mounted read-only at /usr/local/bin/curl.
- emptyDir volumes become podman volumes named after the pod volume, shared between
  pods: each is prefixed with the pod's own name.
- Pod annotations: podman 4.3 refuses an annotation value over 63 characters on a Pod
  (a label's limit; Kubernetes limits annotations only to 256 KiB in total), so the
  pod-template checksums are left out of a played Pod's metadata.
- Jobs are not a kind podman plays: a Job's pod template is played as the Pod the Job
  controller would create. terminationGracePeriodSeconds is not carried over: stop with
  `podman pod stop --time` and the spec's value. preStop hooks are not run.
- Without systemd, health checks are not scheduled: `podman healthcheck run` runs one.
- Init containers: podman 4.3 applies a pod's `restartPolicy: Always` to its init
  containers too, so a finished init container is started again and podman then fails to
  remove it ("failed to remove once init container ... as it is running"). A kubelet runs
  the init containers of such a pod as OnFailure
  (https://kubernetes.io/docs/concepts/workloads/pods/init-containers/), so the copy of a
  pod with init containers gets `restartPolicy: OnFailure`; for its other containers the
  only difference is a restart after exit 0, which these tests never ask for.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.container import images
from tests.helm.chart import Manifest

# The same rlimit workaround as `podman run --ulimit` (tests/container/images.RUN_LIMITS),
# given to kube play through a containers.conf (TOOLING.md).
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
"""
SHIM_PATH = "/usr/local/bin/curl"
HTTP_PROBE_SHIM = '''\
#!/usr/bin/env python3
"""`curl -f URL` as podman's health check for an httpGet probe runs it: the kubelet's
success range (200-399), curl's exit codes (22: an HTTP error, 7: no connection)."""
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[-1], timeout=5) as response:
        sys.exit(0 if 200 <= response.status < 400 else 22)
except urllib.error.HTTPError:
    sys.exit(22)
except OSError:
    sys.exit(7)
'''
# Tools kube play needs beyond the image tests' own (the pause image is built with it).
EXTRA_TOOLS = ("catatonit",)


def missing_tools() -> list[str]:
    return [*images.missing_tools(), *[t for t in EXTRA_TOOLS if shutil.which(t) is None]]


@dataclass
class KubePlay:
    """One test module's podman pods and secrets, all removed by `close`."""

    workdir: Path
    _files: list[Path] = field(default_factory=list)
    _secrets: list[str] = field(default_factory=list)
    _volumes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF)
        self.shim = self.workdir / "curl"
        self.shim.write_text(HTTP_PROBE_SHIM)
        self.shim.chmod(0o755)

    def podman(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}
        proc = subprocess.run(
            [*images.podman_cmd(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"podman {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}"
                f"\n{proc.stderr[-3000:]}"
            )
        return proc.stdout

    # --- Objects ------------------------------------------------------------------------

    def create_secret(self, name: str, data: dict[str, str]) -> None:
        """A Secret's data (base64 values), as podman's secretKeyRef reads it."""
        path = self.workdir / f"secret-{name}.json"
        path.write_text(json.dumps(data))
        self.podman("secret", "rm", name, check=False)
        self.podman("secret", "create", name, str(path))
        self._secrets.append(name)

    def create_secret_values(self, name: str, values: dict[str, str]) -> None:
        encoded = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
        self.create_secret(name, encoded)

    def for_podman(self, manifest: Manifest, pod_name: str) -> dict[str, Any]:
        """The pod (Pod or Deployment) to play, adapted as the module docstring says."""
        body = copy.deepcopy(manifest.body)
        if manifest.kind == "Job":
            template = body["spec"]["template"]
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {**template["metadata"], "name": pod_name},
                "spec": template["spec"],
            }
        if body["kind"] == "Pod":
            annotations = body["metadata"].get("annotations") or {}
            body["metadata"]["annotations"] = {
                key: value for key, value in annotations.items() if len(value) <= 63
            }
        spec = body["spec"] if body["kind"] == "Pod" else body["spec"]["template"]["spec"]
        if spec.get("initContainers") and spec.get("restartPolicy", "Always") == "Always":
            spec["restartPolicy"] = "OnFailure"
        renamed = {v["name"]: f"{pod_name}-{v['name']}"[:63] for v in spec.get("volumes", [])}
        for volume in spec.get("volumes", []):
            volume["name"] = renamed[volume["name"]]
            if "emptyDir" in volume:
                self._volumes.append(volume["name"])
        spec.setdefault("volumes", []).append(
            {
                "name": f"{pod_name}-probe-shim"[:63],
                "hostPath": {"path": str(self.shim), "type": "File"},
            }
        )
        for item in [*spec.get("initContainers", []), *spec["containers"]]:
            named = {
                port["name"]: port["containerPort"]
                for port in item.pop("ports", [])
                if "name" in port
            }
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = item.get(probe, {}).get("httpGet")
                if get is not None and isinstance(get["port"], str):
                    get["port"] = named[get["port"]]
            for mount in item.get("volumeMounts", []):
                mount["name"] = renamed[mount["name"]]
            if "livenessProbe" in item:
                item.setdefault("volumeMounts", []).append(
                    {
                        "name": f"{pod_name}-probe-shim"[:63],
                        "mountPath": SHIM_PATH,
                        "readOnly": True,
                    }
                )
        return body

    def play(self, name: str, documents: list[dict[str, Any]]) -> None:
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        self._files.append(path)
        self.podman("kube", "play", "--network", "host", str(path), timeout=600)

    # --- Observing ----------------------------------------------------------------------

    def inspect(self, container: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.podman("container", "inspect", container))
        return found[0]

    def wait_for_exit(self, container: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.inspect(container)["State"]
            if state["Status"] in ("exited", "stopped"):
                return int(state["ExitCode"])
            time.sleep(0.2)
        raise AssertionError(f"{container} still running after {timeout}s:\n{self.logs(container)}")

    def logs(self, container: str) -> str:
        proc = subprocess.run(
            [*images.podman_cmd(), "logs", container], capture_output=True, text=True, check=False
        )
        return proc.stdout + proc.stderr

    def records(self, container: str) -> list[dict[str, Any]]:
        """The service's JSON log lines."""
        found = []
        for line in self.logs(container).splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def exec(
        self, container: str, *command: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*images.podman_cmd(), "exec", container, *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{command} in {container}: {proc.returncode} {proc.stderr}")
        return proc

    def healthcheck(self, container: str) -> tuple[int, str]:
        proc = subprocess.run(
            [*images.podman_cmd(), "healthcheck", "run", container],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return proc.returncode, (proc.stdout + proc.stderr).strip()

    def close(self) -> None:
        for path in reversed(self._files):
            self.podman("kube", "down", str(path), check=False, timeout=120)
        for name in self._secrets:
            self.podman("secret", "rm", name, check=False)
        for name in self._volumes:
            self.podman("volume", "rm", "--force", name, check=False)


def pinned_image() -> str:
    """The image built from this working tree, under a name no other run can move.

    The tests share one image store and one tag (localhost/cloud-optimizer:test); another
    worktree's run may rebuild it at any moment. The image whose label matches this
    tree's inputs is tagged under a name derived from its id.
    """
    for _ in range(3):
        built = images.ensure_image()
        info = images.inspect_image(built.name)
        assert info is not None
        base = images.inspect_image(built.base)
        assert base is not None
        labels = info.get("Labels") or {}
        assert isinstance(labels, dict)
        if labels.get(images.INPUTS_LABEL) == images.image_inputs_digest(str(base["Id"])):
            image_id = str(info["Id"])
            name = f"localhost/cloud-optimizer-chart:{image_id[:12]}"
            images.run([*images.podman_cmd(), "tag", image_id, name])
            return name
    raise AssertionError("the test image kept changing under this run (another build?)")


@contextmanager
def kube_play(workdir: Path) -> Iterator[KubePlay]:
    play = KubePlay(workdir)
    try:
        yield play
    finally:
        play.close()
