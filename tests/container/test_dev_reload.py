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
# The watched command: logs each start to a file and exits 0 on SIGTERM, as the service does.
CHILD = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
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

    def starts(self) -> list[str]:
        if not self.starts_file.exists():
            return []
        return self.starts_file.read_text(encoding="ascii").splitlines()

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
            "--interval",
            "0.1",
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


def test_a_new_sql_file_restarts_but_other_files_do_not(reloading: Reloading) -> None:
    reloading.wait_for_starts(1)
    (reloading.watched / "notes.txt").write_text("not watched\n", encoding="ascii")
    time.sleep(0.6)
    assert len(reloading.starts()) == 1
    (reloading.watched / "0002-add.sql").write_text("SELECT 1;\n", encoding="ascii")
    reloading.wait_for_starts(2)


def test_sigterm_stops_the_command_and_passes_on_its_exit_status(reloading: Reloading) -> None:
    reloading.wait_for_starts(1)
    started = time.monotonic()
    reloading.process.send_signal(signal.SIGTERM)
    code = reloading.process.wait(timeout=10)
    assert code == 0  # the command's own clean exit
    assert time.monotonic() - started < 5
