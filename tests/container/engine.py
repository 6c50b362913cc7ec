"""A Docker engine of the test run's own: dockerd with its own data-root, exec-root and socket.

Other engineers run suites on the same machine at the same time, so the engine a test run
uses is private to it: everything lives under ``ENGINE_ROOT/<run id>/`` (images, containers,
volumes, networks, containerd's state, the API socket, the client's configuration) and the
daemon asks containerd for namespaces named after the run. Nothing is shared with another
run or with a system Docker, and nothing survives the run:

- ``Engine.stop()`` (the session fixture's teardown, which pytest runs on failure too) stops
  dockerd, ends whatever it left running, unmounts every mount under the run's directory
  (``exec/netns/default`` among them) and removes the directory. Removing gigabytes of
  image layers takes most of a minute, so tests/container/conftest.py starts that with
  ``Engine.stop_in_background()`` as soon as the last test that needs the engine is done;
  the rest of the suite runs meanwhile, and the session's teardown waits for it to finish;
- dockerd is started with ``PR_SET_PDEATHSIG``, so it is sent SIGTERM if the test process
  dies without running its teardown;
- ``sweep()`` removes what such a run left behind (an engine whose owning process is gone).
  It runs before each new engine starts, and ``scripts/dev.sh test`` runs it after pytest
  whatever pytest's fate (``python -m tests.container.engine sweep``).

With ``--bridge=none --iptables=false`` the default network gives containers no way out:
builds use ``--network host``, ``docker run`` uses ``--network host``, and compose's own
networks work (DNS included). See ``/work/shared/TOOLING.md`` and docker/README.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENGINE_ROOT = Path("/var/lib/cloud-optimizer-tests/docker")
# Where the Docker client finds its plugins besides $DOCKER_CONFIG/cli-plugins; scripts/dev.sh
# puts Compose v2 and buildx in the first (both Debian's and Docker's clients look there).
SYSTEM_PLUGIN_DIRS = (
    Path("/usr/local/lib/docker/cli-plugins"),
    Path("/usr/local/libexec/docker/cli-plugins"),
    Path("/usr/lib/docker/cli-plugins"),
    Path("/usr/libexec/docker/cli-plugins"),
)
START_TIMEOUT = 90.0
STOP_TIMEOUT = 40.0
SLOW_STOP = 5.0  # a dockerd that takes longer to stop has its shutdown log printed
PR_SET_PDEATHSIG = 1


def missing_tools() -> list[str]:
    """What a private engine needs that this machine lacks (dev.sh installs all of it)."""
    missing = [
        tool for tool in ("dockerd", "docker", "containerd", "runc") if not shutil.which(tool)
    ]
    if os.geteuid() != 0:
        missing.append("root (dockerd runs as root here)")
    for plugin in ("docker-buildx", "docker-compose"):
        if not any((d / plugin).is_file() for d in plugin_dirs()):
            missing.append(f"{plugin} CLI plugin")
    return missing


def plugin_dirs() -> list[Path]:
    home = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
    return [home, *SYSTEM_PLUGIN_DIRS]


def overlay_works(probe_dir: Path) -> bool:
    """Whether the kernel lets us mount overlayfs under ``probe_dir`` (where the data lives)."""
    probe = probe_dir / f"overlay-probe-{uuid.uuid4().hex[:8]}"
    dirs = {name: probe / name for name in ("lower", "upper", "work", "merged")}
    try:
        for path in dirs.values():
            path.mkdir(parents=True)
        options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
        mounted = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(dirs["merged"])],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", str(dirs["merged"])], capture_output=True, check=False)
        return True
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _ping(sock_path: Path) -> bool:
    conn = _UnixHTTPConnection(sock_path, timeout=2.0)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs. A zombie does not: dockerd, our own child, stays one after
    it exits until Popen reaps it, and signal 0 still reaches a zombie (counting it as alive
    made every stop wait the whole STOP_TIMEOUT)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")".
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _processes_under(root: Path) -> list[int]:
    """PIDs whose command line names ``root``: dockerd, its containerd, shims, docker-proxy."""
    needle = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (so they can be unmounted in order)."""
    prefix = str(root).rstrip("/") + "/"
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def _terminate(pids: Sequence[int], timeout: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _shutdown_log(log: str, lines: int = 40) -> str:
    """What dockerd logged from the stop signal on (the last ``lines`` of it)."""
    tail = log[log.rfind("Processing signal") :] if "Processing signal" in log else log
    kept = [line for line in tail.splitlines() if "Connectivity change" not in line]
    return "\n".join(kept[-lines:])


def dismantle(root: Path, dockerd_pid: int | None = None) -> str:
    """Stop everything an engine under ``root`` runs, unmount its mounts, remove ``root``;
    return a line saying how long each step took."""
    phases: dict[str, float] = {}
    started = time.monotonic()
    if dockerd_pid is None:
        dockerd_pid = _read_pid(root / "dockerd.pid")
    if dockerd_pid is not None and _alive(dockerd_pid):
        # dockerd stops its containers (SIGTERM, then SIGKILL after their stop timeout) and
        # its containerd; give it that long before taking over.
        _terminate([dockerd_pid], STOP_TIMEOUT)
    phases["dockerd"] = time.monotonic() - started
    slow = ""
    if phases["dockerd"] > SLOW_STOP:
        log = (root / "dockerd.log").read_text(errors="replace")
        slow = f"\n[engine] dockerd's shutdown log:\n{_shutdown_log(log)}"
    leftovers = _processes_under(root)
    if leftovers:
        _terminate(leftovers, 10.0)
    phases["leftovers"] = time.monotonic() - started - sum(phases.values())
    for point in _mounts_under(root):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    phases["umount"] = time.monotonic() - started - sum(phases.values())
    shutil.rmtree(root, ignore_errors=True)
    phases["remove"] = time.monotonic() - started - sum(phases.values())
    return (
        f"[engine] dismantled {root} in {time.monotonic() - started:.1f} s ("
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
        + ")"
        + slow
    )


def sweep(engine_root: Path = ENGINE_ROOT) -> list[Path]:
    """Dismantle engines whose owning test process has gone; return their directories."""
    removed: list[Path] = []
    if not engine_root.is_dir():
        return removed
    for root in sorted(engine_root.iterdir()):
        owner = _read_pid(root / "owner.pid")
        if owner is not None and _alive(owner) and owner != os.getpid():
            continue  # another run's engine, in use
        if owner == os.getpid():
            continue  # ours: Engine.stop() handles it
        print(dismantle(root))
        removed.append(root)
    return removed


@dataclass
class Engine:
    """A running private dockerd and the environment its clients need."""

    root: Path
    process: subprocess.Popen[bytes]
    storage_driver: str
    started_seconds: float
    _stopped: bool = field(default=False, repr=False)
    _stopper: threading.Thread | None = field(default=None, repr=False)
    report: str = ""  # dismantle()'s line, once stopped

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment for ``docker`` and its plugins, pointed at this engine."""
        env = {
            **os.environ,
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(self.root / "config"),
            # The docker driver cannot store attestations; say so rather than warn per build.
            "BUILDX_NO_DEFAULT_ATTESTATIONS": "1",
            "DOCKER_CLI_HINTS": "false",
        }
        env.pop("DOCKER_CONTEXT", None)
        env.update(extra or {})
        return env

    def docker(
        self,
        *args: str,
        timeout: float = 600,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this engine; raise with its output when it fails."""
        proc = subprocess.run(
            ["docker", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env(env),
            cwd=cwd,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)} exited {proc.returncode}\n--- stdout\n"
                f"{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}"
            )
        return proc

    def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        """``docker KIND inspect NAME`` as a dict, or None when there is no such object."""
        proc = self.docker(kind, "inspect", name, check=False)
        if proc.returncode != 0:
            return None
        found: list[dict[str, Any]] = json.loads(proc.stdout)
        return found[0] if found else None

    def stop(self) -> None:
        """Stop and remove the engine; when a background stop is under way, wait for it."""
        if self._stopper is not None:
            self._stopper.join()
            return
        self._stop_now()

    def stop_in_background(self) -> None:
        """Start stopping and removing the engine in a thread; ``stop()`` waits for it."""
        if self._stopped or self._stopper is not None:
            return
        self._stopper = threading.Thread(
            target=self._stop_now, name=f"stop-engine-{self.root.name}"
        )
        self._stopper.start()

    def _stop_now(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.report = dismantle(self.root, self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_engine(engine_root: Path = ENGINE_ROOT) -> Engine:
    """Start a private dockerd for this process and wait until it answers."""
    sweep(engine_root)
    run_id = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    root = engine_root / run_id
    (root / "config").mkdir(parents=True)
    (root / "owner.pid").write_text(str(os.getpid()), encoding="ascii")
    # The client's own config directory hides ~/.docker: link the user's plugins in.
    user_plugins = Path.home() / ".docker" / "cli-plugins"
    if user_plugins.is_dir():
        (root / "config" / "cli-plugins").symlink_to(user_plugins)
    # Our own (empty) daemon.json: a machine-wide /etc/docker/daemon.json must not change
    # what the tests run on.
    (root / "daemon.json").write_text("{}\n", encoding="ascii")
    driver = os.environ.get("CO_DOCKER_STORAGE") or ("overlay2" if overlay_works(root) else "vfs")
    namespace = f"co-test-{run_id}"
    cmd = [
        "dockerd",
        "--config-file",
        str(root / "daemon.json"),
        "--storage-driver",
        driver,
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--bridge=none",
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "--pidfile",
        str(root / "dockerd.pid"),
        "-H",
        f"unix://{root / 'docker.sock'}",
        # Even if a system containerd appears at /run/containerd, this run's objects live in
        # namespaces of its own there.
        "--containerd-namespace",
        namespace,
        "--containerd-plugins-namespace",
        f"{namespace}-plugins",
    ]
    started = time.monotonic()
    log = (root / "dockerd.log").open("wb")
    process = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
        start_new_session=True,  # Ctrl-C in the terminal reaches pytest, which stops it
    )
    log.close()
    engine = Engine(root, process, driver, 0.0)
    try:
        while not _ping(engine.socket):
            if process.poll() is not None:
                tail = (root / "dockerd.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"dockerd exited {process.returncode}:\n{tail}")
            if time.monotonic() - started > START_TIMEOUT:
                raise RuntimeError(f"dockerd did not answer within {START_TIMEOUT:.0f} s")
            time.sleep(0.1)
    except BaseException:
        engine.stop()
        raise
    engine.started_seconds = time.monotonic() - started
    return engine


def main(argv: Sequence[str]) -> int:
    """``python -m tests.container.engine sweep``: remove engines of finished runs."""
    if list(argv) != ["sweep"]:
        print("usage: python -m tests.container.engine sweep", file=sys.stderr)
        return 64
    for root in sweep():
        print(f"engine: removed the leftover engine {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
