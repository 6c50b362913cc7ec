"""Render the chart with the real Helm library (helm-python-sdk) and look at the result.

`render()` is `helm template`: the chart's values.yaml, then the values files in order,
then the overrides (like `--set`), merged the way Helm merges them, and every template
rendered, hooks and `helm test` pods included. No cluster is contacted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml

from service import contract
from service.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "cloud-optimizer"
RELEASE = "co"
NAMESPACE = "cloud-optimizer"
FULLNAME = f"{RELEASE}-cloud-optimizer"

# The one value the chart cannot default: where the database is.
DB_HOST = {"database": {"host": "db.example.internal"}}
# Dev secrets as an operator passes them with --set at install time (never in a file).
DEV_SECRETS = {
    "secrets": {
        "inline": {
            "databaseUsername": "co_dev",
            "databasePassword": "dev-password-from-set",
            "appSecret": "dev-app-secret-from-set",
        }
    }
}
EXISTING_SECRET = "co-credentials"
PRE_CREATED_SA = "co-irsa"
DB_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:co/database-AbCdEf"
APP_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:co/app-AbCdEf"

Values = dict[str, Any]


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """Helm's merge of two values trees: maps merge key by key, anything else replaces."""
    merged: Values = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged


def values_file(name: str) -> Values:
    """A values file of the chart (values-dev.yaml, values-prod.yaml, ...)."""
    loaded = yaml.safe_load((CHART_DIR / name).read_text())
    assert isinstance(loaded, dict), f"{name} is not a mapping"
    return loaded


@dataclass(frozen=True)
class Scenario:
    """A way the chart is installed: values files in order, then --set style overrides."""

    files: tuple[str, ...] = ()
    overrides: Values = field(default_factory=dict)

    def values(self) -> Values:
        result: Values = {}
        for name in self.files:
            result = merge(result, values_file(name))
        return merge(result, self.overrides)


SCENARIOS: dict[str, Scenario] = {
    # Nothing at all: what `helm lint`, chart-testing and the EKS add-on validation render.
    "defaults": Scenario(),
    "default": Scenario(overrides=DB_HOST),
    "dev": Scenario(files=("values-dev.yaml",), overrides=DEV_SECRETS),
    "prod": Scenario(files=("values-prod.yaml",)),
    "autoscaling-off": Scenario(overrides=merge(DB_HOST, {"autoscaling": {"enabled": False}})),
    "ingress-off": Scenario(overrides=merge(DB_HOST, {"ingress": {"enabled": False}})),
    "existing-secret": Scenario(
        overrides=merge(
            DB_HOST,
            {"secrets": {"source": "existingSecret", "existingSecret": {"name": EXISTING_SECRET}}},
        )
    ),
    # The service reads Secrets Manager itself; the RDS secret names the host.
    "secrets-manager": Scenario(
        overrides={
            "serviceAccount": {"roleArn": "arn:aws:iam::111122223333:role/co"},
            "secrets": {
                "source": "secretsManager",
                "secretsManager": {
                    "databaseSecretArn": DB_SECRET_ARN,
                    "appSecretArn": APP_SECRET_ARN,
                },
            },
        }
    ),
    "prod-digest": Scenario(
        files=("values-prod.yaml",),
        overrides={"image": {"digest": "sha256:" + "ab" * 32}},
    ),
    # A ServiceAccount made outside the chart (eksctl create iamserviceaccount, Terraform).
    "pre-created-account": Scenario(
        overrides=merge(DB_HOST, {"serviceAccount": {"create": False, "name": PRE_CREATED_SA}})
    ),
    # Migrations in an init container, no Helm hook: the Amazon EKS add-on channel.
    "eks-addon": Scenario(files=("values-eks-addon.yaml",), overrides=DB_HOST),
}
# The scenarios whose migration runs as the pre-install/pre-upgrade hook Job.
HOOK_SCENARIOS = sorted(name for name in SCENARIOS if name != "eks-addon")


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template it came from."""

    template: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.body["metadata"].get("annotations") or {})

    @property
    def hook_events(self) -> frozenset[str]:
        hook = self.annotations.get("helm.sh/hook", "")
        return frozenset(part.strip() for part in hook.split(",") if part.strip())

    @property
    def hook_weight(self) -> int:
        return int(self.annotations.get("helm.sh/hook-weight", "0"))

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@functools.cache
def _chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART_DIR)


def render_raw(
    values: Values,
    *,
    is_upgrade: bool = False,
    revision: int | None = None,
    release: str = RELEASE,
    chart: helm_python.Chart | None = None,
) -> dict[str, str]:
    """Template path -> rendered text, exactly as the Helm library returns it."""
    result: dict[str, str] = (chart or _chart()).render(
        values,
        name=release,
        namespace=NAMESPACE,
        is_install=not is_upgrade,
        is_upgrade=is_upgrade,
        revision=revision,
    )
    return result


def render(
    values: Values,
    *,
    is_upgrade: bool = False,
    release: str = RELEASE,
    chart: helm_python.Chart | None = None,
) -> list[Manifest]:
    """Every object the chart renders for these values (hooks and tests included)."""
    manifests: list[Manifest] = []
    rendered = render_raw(values, is_upgrade=is_upgrade, release=release, chart=chart)
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                manifests.append(Manifest(template=template, body=document))
    return manifests


def render_scenario(name: str) -> list[Manifest]:
    return render(SCENARIOS[name].values())


def only(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The single object of this kind (and name); fails naming what was there instead."""
    found = [m for m in manifests if m.kind == kind and (name is None or m.name == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[m.key for m in found]}"
    return found[0]


def kinds(manifests: list[Manifest]) -> set[str]:
    return {m.kind for m in manifests}


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    """The pod spec of a Deployment, Job or Pod."""
    if manifest.kind == "Pod":
        spec: dict[str, Any] = manifest.body["spec"]
    else:
        spec = manifest.body["spec"]["template"]["spec"]
    return spec


def pod_bearing(manifests: list[Manifest]) -> Iterator[Manifest]:
    return (m for m in manifests if m.kind in ("Deployment", "Job", "Pod"))


def init_containers(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """A pod-bearing manifest's init containers by name."""
    return {item["name"]: item for item in pod_spec(manifest).get("initContainers", [])}


def pod_labels(manifest: Manifest) -> dict[str, str]:
    """The labels of the pods a Deployment, Job or Pod makes."""
    if manifest.kind == "Pod":
        labels: dict[str, str] = manifest.body["metadata"]["labels"]
    else:
        labels = manifest.body["spec"]["template"]["metadata"]["labels"]
    return labels


def hooks(manifests: list[Manifest]) -> list[Manifest]:
    """The objects Helm treats as hooks (migration hooks and `helm test` objects)."""
    return [m for m in manifests if m.hook_events]


def container(manifest: Manifest) -> dict[str, Any]:
    """The chart's own container of a pod-bearing manifest (the first; sidecars follow)."""
    containers = pod_spec(manifest)["containers"]
    assert containers, f"{manifest.key} has no container"
    first: dict[str, Any] = containers[0]
    return first


def env_map(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """Container env entries by variable name."""
    return {entry["name"]: entry for entry in container(manifest).get("env", [])}


def write_manifests(manifests: list[Manifest], directory: Path) -> list[Path]:
    """One file per object, as scanners expect to find them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, manifest in enumerate(manifests):
        path = directory / f"{index:02d}-{manifest.kind.lower()}-{manifest.name}.yaml"
        path.write_text(yaml.safe_dump(manifest.body, sort_keys=False))
        paths.append(path)
    return paths


# The RDS CA bundle as the repository holds it; the image carries the same file at
# contract.RDS_CA_BUNDLE_PATH, which does not exist on the machine running the tests.
REPO_RDS_CA_BUNDLE = REPO_ROOT / "docker" / "certs" / "rds-global-bundle.pem"


def service_settings(env: Mapping[str, str]) -> Settings:
    """The service's own reading of a pod's environment (service.config.load_settings),
    with the image's CA bundle path mapped to the repository's copy of that file."""
    env = dict(env)
    if env.get(contract.ENV_DB_SSLROOTCERT) == contract.RDS_CA_BUNDLE_PATH:
        env[contract.ENV_DB_SSLROOTCERT] = str(REPO_RDS_CA_BUNDLE)
    return load_settings(env)
