"""The one place a UserError becomes click's message and exit status (webhook/cli.py)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from webhook import errors
from webhook.cli import SUBCOMMANDS, main, report_user_errors
from webhook.documents import InputError as DocumentInputError
from webhook.federation.common import InputError as FederationInputError
from webhook.install import InstallError
from webhook.settings import ConfigFileError


def failing_group(error: Exception) -> click.Group:
    @click.group("outer")
    def outer() -> None:
        """A group, to show nested commands are covered too."""

    @outer.command("inner")
    def inner() -> None:
        raise error

    return outer


@pytest.mark.parametrize(
    ("error", "code", "expected"),
    [
        (errors.UserError("the flag is wrong"), 1, ["Error: the flag is wrong"]),
        (FederationInputError("--issuer 'x' has no host"), 1, ["Error: --issuer 'x' has no host"]),
        (InstallError("--namespace 'X' is not a label"), 1, ["Error: --namespace 'X' is not a label"]),
        (DocumentInputError("a.yaml", 3, "invalid YAML"), 2, ["error: a.yaml:3: invalid YAML"]),
        (
            ConfigFileError("c.yaml: not a mapping"),
            2,
            [
                "Usage: outer inner [OPTIONS]",
                "Try 'outer inner --help' for help.",
                "Error: c.yaml: not a mapping",
            ],
        ),
    ],
)
def test_a_user_error_is_its_message_and_exit_status(
    error: Exception, code: int, expected: list[str]
) -> None:
    result = CliRunner().invoke(report_user_errors(failing_group(error)), ["inner"], catch_exceptions=False)
    assert result.exit_code == code
    assert [line for line in result.stderr.splitlines() if line] == expected
    assert result.stdout == ""


def test_other_exceptions_are_bugs_and_keep_their_traceback() -> None:
    command = report_user_errors(failing_group(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        CliRunner().invoke(command, ["inner"], catch_exceptions=False)


def test_every_subcommand_reports_user_errors() -> None:
    ctx = click.Context(main)
    for name in SUBCOMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None
        commands = [command, *getattr(command, "commands", {}).values()]
        assert all(getattr(c.callback, "reports_user_errors", False) for c in commands if c.callback), name
