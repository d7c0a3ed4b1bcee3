"""Entry point of the `sendingip` command: one sub-command per module, registered here.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from store.config import ConfigError

#: Modules that define sub-commands, in the order `sendingip --help` lists them.
COMMAND_MODULES = (
    "cli.migrate",
    "cli.serve",
    "cli.reset",
    "cli.worker",
    "cli.keys",
    "cli.status",
    "cli.accounts",
    "cli.ips",
    "cli.regions",
    "cli.history",
    "cli.policy",
    "cli.warmup",
    "cli.audit",
    "cli.route",
    "cli.postfix",
    "cli.outcomes",
    "cli.bench",
    "cli.simulate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sendingip",
        description="Dedicated sending IPs: warm-up, elastic pools and per-message routing.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
