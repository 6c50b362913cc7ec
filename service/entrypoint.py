"""``python -m service``: the command line. Parses the arguments, configures logging,
validates the configuration (step 1) and runs the command's steps (service.startup).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Awaitable, Sequence
from typing import NoReturn

import uvloop

from service import contract
from service.commands import run_check, run_migrate, run_rollback
from service.logs import configure_logging
from service.startup import StartupFailed, run_service, validate_configuration

log = logging.getLogger("service")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line and the documented usage code, not argparse's 2.
        sys.stderr.write(f"{self.prog}: {message}\n")
        raise SystemExit(contract.EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m service", description="Cloud Optimizer service")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    commands.add_parser("serve", help="start the service (the default)")
    migrate = commands.add_parser("migrate", help="apply migrations and exit")
    migrate.add_argument(
        "--contract",
        action="store_true",
        help="also apply the destructive contract set (a release after its expand set)",
    )
    rollback = commands.add_parser("rollback", help="roll back migrations and exit")
    target = rollback.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="ID", help="the migration id to roll back to (kept)")
    target.add_argument("--all", action="store_true", help="roll back every migration")
    rollback.add_argument(
        "--force", action="store_true", help="roll back even when it drops existing data"
    )
    commands.add_parser("check", help="validate configuration, reach each dependency, exit")
    return parser


def _fail(exit_code: int, message: str) -> int:
    log.error("%s", message, extra={"exit_code": exit_code})
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO)
    command = args.command or "serve"
    if command != "serve":
        gc.enable()  # off for the imports (service/__main__.py); serve turns it on itself
    log.info("cloud optimizer %s: %s", contract.VERSION, command)
    try:
        settings = validate_configuration(os.environ)
    except StartupFailed as exc:
        return _fail(exc.exit_code, str(exc))
    if command == "serve":
        work: Awaitable[int] = run_service(settings)
    elif command == "migrate":
        work = run_migrate(settings, include_contract=args.contract)
    elif command == "rollback":
        work = run_rollback(settings, None if args.all else args.to, force=args.force)
    else:
        work = run_check(settings)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(work)  # type: ignore[arg-type]
    except StartupFailed as exc:
        return _fail(exc.exit_code, str(exc))
