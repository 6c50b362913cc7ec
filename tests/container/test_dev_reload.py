"""docker/dev_reload.py, the development image's hot reload, run as a real process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.container import images

RELOADER = images.REPO_ROOT / "docker" / "dev_reload.py"
# The watched command: logs each start and each stop signal to a file and exits 0 on
# SIGINT, which the service treats as SIGTERM (service.entrypoint drains on both).
CHILD = (
    "import os, signal, sys, time\n"
    "def stop(signum, _frame):\n"
    "    with open(sys.argv[1], 'a') as f:\n"
    "        f.write(f'stopped {signal.Signals(signum).name}\\n')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "with open(sys.argv[1], 'a') as f:\n"
    "    f.write(f'start {os.getpid()}\\n')\n"
    "while True:\n"
    "    time.sleep(0.05)\n"
)


@dataclass
class Reloading:
    process: subprocess.Popen[str]
    watched: Path
    starts_file: Path

    def lines(self) -> list[str]:
        if not self.starts_file.exists():
            return []
        return self.starts_file.read_text(encoding="ascii").splitlines()

    def starts(self) -> list[str]:
        return [line for line in self.lines() if line.startswith("start ")]

    def wait_for_starts(self, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.starts()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} starts expected, saw {self.starts()}")


@pytest.fixture
def reloading(tmp_path: Path) -> Iterator[Reloading]:
    watched = tmp_path / "service"
    watched.mkdir()
    (watched / "app.py").write_text("VERSION = 1\n", encoding="ascii")
    starts = tmp_path / "starts.log"
    process = subprocess.Popen(
        [
            sys.executable,
            str(RELOADER),
            "--watch",
            str(watched),
            "--stop-timeout",
            "5",
            "--",
            sys.executable,
            "-c",
            CHILD,
            str(starts),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: teardown ends the command too
    )
    try:
        yield Reloading(process, watched, starts)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=10)
        print(output)


def touch_with_new_content(path: Path, text: str) -> None:
    path.write_text(text, encoding="ascii")
    later = time.time() + 2  # a different mtime even on coarse file-system clocks
    os.utime(path, (later, later))


def test_a_changed_source_file_restarts_the_command(reloading: Reloading) -> None:
    first = reloading.wait_for_starts(1)
    touch_with_new_content(reloading.watched / "app.py", "VERSION = 2\n")
    both = reloading.wait_for_starts(2)
    assert both[0] == first[0]
    assert both[1] != both[0]  # a new process, not the same one logging twice
    assert reloading.lines()[1] == "stopped SIGINT"  # the old one stopped cleanly first


def test_a_new_sql_file_restarts_but_other_files_do_not(reloading: Reloading) -> None:
    reloading.wait_for_starts(1)
    (reloading.watched / "notes.txt").write_text("not watched\n", encoding="ascii")
    time.sleep(0.6)
    assert len(reloading.starts()) == 1
    (reloading.watched / "0002-add.sql").write_text("SELECT 1;\n", encoding="ascii")
    reloading.wait_for_starts(2)


def test_sigterm_stops_the_command_through_its_clean_stop(reloading: Reloading) -> None:
    """docker stop: the reloader exits 0 once the command has run its own drain."""
    reloading.wait_for_starts(1)
    reloading.process.send_signal(signal.SIGTERM)
    code = reloading.process.wait(timeout=30)
    assert code == 0
    assert reloading.lines()[-1] == "stopped SIGINT"  # not SIGKILLed after the stop timeout
