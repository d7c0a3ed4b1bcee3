"""The `sendingip` entry point builds only the parser of the command it runs."""

from __future__ import annotations

import argparse

import pytest

from cli.main import COMMANDS, build_parser, chosen_command


def _names(parser: argparse.ArgumentParser) -> set[str]:
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(subparsers.choices)


def test_every_command_is_found_in_the_module_it_is_mapped_to() -> None:
    assert _names(build_parser()) == set(COMMANDS)
    for command in COMMANDS:
        assert command in _names(build_parser(command)), command


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["status", "acme"], "status"),
        (["--log-level", "DEBUG", "worker", "--once"], "worker"),
        (["--log-level=DEBUG", "loadtest"], "loadtest"),
        (["--help"], None),
        ([], None),
        (["bogus", "status"], None),  # the full parser names the bad command
    ],
)
def test_the_command_is_the_first_word_that_is_no_option(argv: list[str], command: str | None) -> None:
    assert chosen_command(argv) == command


def test_an_unknown_command_is_refused_with_every_choice_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser(chosen_command(["bogus"])).parse_args(["bogus"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "'status'" in err and "'serve'" in err
