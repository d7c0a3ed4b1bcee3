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


#: The module of each sub-command: its own name, and ``loadtest`` beside ``bench``.
COMMANDS = {name.removeprefix("cli."): name for name in COMMAND_MODULES} | {"loadtest": "cli.bench"}


def chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names, if it is one: the first word that is no option (nor
    ``--log-level``'s value)."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every sub-command, or of ``only``'s module: a command then imports only
    what it runs (the server's modules take half a second to import, a client call none of them)."""
    parser = argparse.ArgumentParser(
        prog="sendingip",
        description="Dedicated sending IPs: warm-up, elastic pools and per-message routing.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in (COMMANDS[only],) if only is not None else COMMAND_MODULES:
        import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(chosen_command(words)).parse_args(words)
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
