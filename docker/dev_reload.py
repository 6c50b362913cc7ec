"""Hot reload for the development image: restart a command when a watched file changes.

    python docker/dev_reload.py --watch service --watch migrations -- python -m service

watchfiles does the watching and the restarting; this file only says what to watch
(``.py``, ``.sql`` and ``.json`` files, nothing under ``__pycache__`` or ``.git``) and how
long a stopped command gets. The service runs its startup steps (configuration, secrets,
database, migrations, the knowledge base) before it serves, so a reload restarts the whole
process rather than re-importing modules: each change is tested through the real startup
path. The dev image sets ``WATCHFILES_FORCE_POLLING`` so that it works on bind mounts whose
file-system events do not reach the container (some hosts' file sharing).

A reload or SIGTERM to this process stops the command with SIGINT, which the service
treats as SIGTERM (the drain), and SIGKILL after ``--stop-timeout`` seconds.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from watchfiles import PythonFilter, run_process

WATCHED_SUFFIXES = (".sql", ".json")  # besides PythonFilter's .py, .pyx and .pyd


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Restart a command when a watched file changes.")
    parser.add_argument(
        "--watch",
        action="append",
        type=Path,
        required=True,
        help="a directory whose .py, .sql and .json files are watched",
    )
    parser.add_argument(
        "--stop-timeout",
        type=int,
        default=int(os.environ.get("DEV_RELOAD_STOP_TIMEOUT", "15")),
        help="seconds a stopped command gets before SIGKILL",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given after --")
    missing = [str(path) for path in args.watch if not path.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    run_process(
        *args.watch,
        target=shlex.join(args.command),
        target_type="command",
        watch_filter=PythonFilter(extra_extensions=WATCHED_SUFFIXES),
        sigint_timeout=args.stop_timeout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
