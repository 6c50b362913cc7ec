"""Hot reload for the development image: restart a command when a watched file changes.

    python docker/dev_reload.py --watch service --watch migrations -- python -m service

The service runs its startup steps (configuration, secrets, database, migrations, the
knowledge base) before it serves, so a reload restarts the whole process rather than
re-importing modules: each change is tested through the real startup path. Standard
library only, polling modification times, so it works on bind mounts from any host
(inotify events do not cross some of them) and needs nothing the image lacks.

SIGTERM or SIGINT to this process is passed on to the command, and its exit status becomes
this process's.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

WATCHED_SUFFIXES = (".py", ".sql", ".json")


def snapshot(roots: Sequence[Path]) -> dict[Path, int]:
    """Modification time of every watched file under the roots."""
    found: dict[Path, int] = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.suffix in WATCHED_SUFFIXES and "__pycache__" not in path.parts:
                try:
                    found[path] = path.stat().st_mtime_ns
                except FileNotFoundError:  # removed between listing and stat
                    continue
    return found


def changed(before: dict[Path, int], after: dict[Path, int]) -> list[Path]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def exit_status(returncode: int) -> int:
    """A shell-style status: 128 + N for a command killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class Reloader:
    def __init__(
        self, command: Sequence[str], roots: Sequence[Path], interval: float, stop_timeout: float
    ) -> None:
        self.command = list(command)
        self.roots = list(roots)
        self.interval = interval
        self.stop_timeout = stop_timeout
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping: int | None = None  # the signal that asked us to stop

    def log(self, message: str) -> None:
        print(f"[dev_reload] {message}", file=sys.stderr, flush=True)

    def start(self) -> None:
        self.log(f"starting: {' '.join(self.command)}")
        self.child = subprocess.Popen(self.command)

    def stop_child(self, sig: int = signal.SIGTERM) -> int:
        child = self.child
        assert child is not None
        if child.poll() is None:
            child.send_signal(sig)
            try:
                child.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.log(f"no exit {self.stop_timeout:g} s after the signal: killing")
                child.kill()
                child.wait()
        return int(child.returncode)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = signum

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        state = snapshot(self.roots)
        self.start()
        assert self.child is not None
        reported_exit = False
        while self.stopping is None:
            time.sleep(self.interval)
            if self.child.poll() is not None and not reported_exit:
                self.log(f"command exited {self.child.returncode}; waiting for a change")
                reported_exit = True
            current = snapshot(self.roots)
            diff = changed(state, current)
            if diff and self.stopping is None:
                self.log(f"changed: {', '.join(str(p) for p in diff[:5])}; restarting")
                self.stop_child()
                state = current
                reported_exit = False
                self.start()
        return exit_status(self.stop_child(self.stopping))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Restart a command when a watched file changes.")
    parser.add_argument(
        "--watch",
        action="append",
        type=Path,
        required=True,
        help="a directory whose .py, .sql and .json files are watched",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=float(os.environ.get("DEV_RELOAD_STOP_TIMEOUT", "15")),
        help="seconds a stopped command gets before SIGKILL",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given after --")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return Reloader(args.command, args.watch, args.interval, args.stop_timeout).run()


if __name__ == "__main__":
    sys.exit(main())
