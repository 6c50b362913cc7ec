"""The kind workflow is valid, pinned, does what issue 7 asks, and its load check can fail.

The workflow itself needs a runner with Docker; here it is checked by actionlint (with
shellcheck on its scripts when shellcheck is installed), by reading its steps, and by
running its load generator against a local server that fails some requests.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from tests.helm import load_loop
from tests.helm.chart import REPO_ROOT
from tests.support.tools import find_tool

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "helm.yml"
ACTIONLINT = Path(find_tool("actionlint") or REPO_ROOT / ".venv" / "bin" / "actionlint")


def test_actionlint_passes() -> None:
    completed = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_actionlint_is_live() -> None:
    """actionlint does reject a broken workflow (so the pass above means something)."""
    broken = WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs-on: [")
    completed = subprocess.run(
        [str(ACTIONLINT), "-no-color", "-"],
        input=broken,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode != 0


def _steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps: list[dict[str, Any]] = workflow["jobs"]["kind-install-upgrade"]["steps"]
    return steps


def test_every_action_is_pinned_by_full_commit_sha() -> None:
    uses = [step["uses"] for step in _steps() if "uses" in step]
    assert uses, "no actions found"
    for use in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", use), use
    text = WORKFLOW.read_text()
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"# v\d", line), f"no version comment: {line.strip()}"


def test_kind_node_images_are_pinned_by_digest_and_cover_eks_versions() -> None:
    from tests.helm.test_render import EKS_CALENDAR

    workflow = yaml.safe_load(WORKFLOW.read_text())
    matrix = workflow["jobs"]["kind-install-upgrade"]["strategy"]["matrix"]["include"]
    for entry in matrix:
        assert re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", entry["node_image"])
        assert entry["node_image"].startswith(f"kindest/node:v{entry['kubernetes']}.")
        assert entry["kubernetes"] in EKS_CALENDAR


def test_the_workflow_installs_tests_and_upgrades_under_load() -> None:
    script = "\n".join(step.get("run", "") for step in _steps())
    order = [
        "kind load docker-image",
        "name: default-deny",
        "helm install",
        "helm test",
        "tests/helm/load_loop.py",
        "--set image.tag=ci-2",
        "--set autoscaling.enabled=true",
        "--set autoscaling.enabled=false",
        "--set migration.mode=initContainer",
        "touch /tmp/stop",
        'test "$phase" = Succeeded',
    ]
    positions = [script.index(marker) for marker in order]
    assert positions == sorted(positions), "steps are out of order"
    install = script[script.index("helm install") :].split("\n\n", 1)[0]
    assert "--wait" in install
    assert "secrets.source=existingSecret" in install
    upgrade = script[script.index("helm upgrade") :]
    assert "--set image.tag=ci-2" in upgrade
    assert "--wait" in upgrade
    # The autoscaling switch is judged on the pod count sampled throughout.
    assert 'test "$(sort -n replicas.log | head -1)" -ge 2' in script
    # The load carries the API token.
    assert '--env="CO_API_TOKEN=$token"' in script


def test_the_workflow_lints_the_defaults_and_the_hook_free_render() -> None:
    script = "\n".join(step.get("run", "") for step in _steps())
    assert 'helm lint --strict "$CHART"\n' in script
    assert 'helm template co "$CHART" > /dev/null' in script
    assert "--set k8version=" in script


class _FlakyService(BaseHTTPRequestHandler):
    """Answers like the service, except that every third write fails with 503."""

    writes: ClassVar[int] = 0
    authorizations: ClassVar[set[str | None]] = set()

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        type(self).authorizations.add(self.headers.get("Authorization"))
        self._answer(200, {"frameworks": []})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).writes += 1
        if type(self).writes % 3 == 0:
            self._answer(503, {"detail": "draining"})
        else:
            self._answer(201, {"id": type(self).writes})


@pytest.fixture
def flaky_service() -> Iterator[str]:
    _FlakyService.writes = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_load_loop_counts_failed_requests_and_exits_non_zero(
    flaky_service: str, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    timer = threading.Timer(1.0, stop.touch)
    timer.start()
    try:
        tally = load_loop.run(flaky_service, stop, pause=0.01)
    finally:
        timer.cancel()
    assert tally.ok > 3
    assert tally.failed >= 1
    assert any("status=503" in error for error in tally.errors)
    stop.touch()
    assert load_loop.main(["load_loop.py", flaky_service, str(stop)]) == 1  # no request: fails


def test_load_loop_sends_the_api_token(
    flaky_service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _FlakyService.authorizations = set()
    monkeypatch.setenv(load_loop.TOKEN_VARIABLE, "token-123")
    stop = tmp_path / "stop"
    timer = threading.Timer(0.3, stop.touch)
    timer.start()
    try:
        load_loop.run(flaky_service, stop, pause=0.01)
    finally:
        timer.cancel()
    assert _FlakyService.authorizations == {"Bearer token-123"}


def test_load_loop_reports_a_dead_service_as_failures(tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    timer = threading.Timer(0.5, stop.touch)
    timer.start()
    try:
        tally = load_loop.run("http://127.0.0.1:9", stop, pause=0.01)
    finally:
        timer.cancel()
    assert tally.ok == 0
    assert tally.failed > 0
