"""The private engine's own life cycle (tests/container/engine.py): how it decides a process
is gone, and the background stop the suite uses once the last test that needs it is done."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.container import engine


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()[0]


def test_a_running_process_is_alive_and_an_exited_unreaped_child_is_not() -> None:
    running = subprocess.Popen(["sleep", "30"])
    exited = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while _state(exited.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(exited.pid) == "Z"  # exited, not reaped: signal 0 still reaches it
        assert engine._alive(running.pid) is True
        assert engine._alive(exited.pid) is False
    finally:
        running.kill()
        running.wait()
        exited.wait()
    assert engine._alive(exited.pid) is False  # reaped: no such process


@pytest.mark.container
def test_stop_in_background_removes_the_engine_and_stop_waits_for_it() -> None:
    missing = engine.missing_tools()
    if missing:
        pytest.skip(f"no {', '.join(missing)} on this machine: no Docker engine can run here")
    # Under ENGINE_ROOT: a socket path in pytest's tmp_path is longer than a Unix socket's.
    running = engine.start_engine()
    assert running.inspect("image", "no-such-image") is None
    running.stop_in_background()
    running.stop()  # waits for the background stop
    assert not running.root.exists()
    assert running.process.poll() is not None
    assert "[engine] dismantled" in running.report
    assert "dockerd's shutdown log" not in running.report  # it stopped when asked
