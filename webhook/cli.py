"""The `webhook` command: one group whose subcommands are imported only when they run.

Where a command lives: SUBCOMMANDS names, for each subcommand, the module holding its click definition:
a generator for the trusting side in webhook/federation/commands (one module per command or group), any
other command in the module of the work it drives (render.py, serve.py, install.py for `manifests`). Its
click code only reads flags, calls that work and prints; what the user must fix is raised as a
webhook.errors.UserError, which this module alone turns into click's message and exit status.
Process housekeeping (garbage collector, interpreter teardown) belongs to the console script, run().
"""

from __future__ import annotations

import functools
import gc
import importlib
import os
import sys
from collections.abc import Callable
from typing import IO, Any

import click

from webhook import __version__
from webhook.errors import UsageError, UserError
from webhook.extras import MissingExtra, missing_extra

# name -> "module:attribute". Lazy because serve's FastAPI/kubernetes imports would otherwise slow down
# every `webhook render` call in CI (docs/benchmarks.md, "Figures behind the code's choices"), and because a
# core-only install has neither (a command whose extra is missing says which to install).
SUBCOMMANDS = {
    "argocd": "webhook.federation.commands.argocd:argocd_group",
    "certs": "webhook.certs_command:certs_group",
    "credential": "webhook.federation.commands.credential:credential_command",
    "downstream": "webhook.federation.commands.downstream:downstream_group",
    "drift": "webhook.drift:drift_command",
    "greenhouse": "webhook.federation.commands.greenhouse:greenhouse_group",
    "kubeconfig": "webhook.federation.commands.kubeconfig:kubeconfig_command",
    "manifests": "webhook.install:manifests_command",
    "oauth2-proxy": "webhook.federation.commands.oauth2proxy:oauth2_proxy_command",
    "oidc": "webhook.federation.commands.oidc:oidc_group",
    "render": "webhook.render:render",
    "serve": "webhook.serve:serve_command",
    "token": "webhook.federation.commands.token:token_group",
    "vault": "webhook.federation.commands.vault:vault_group",
}


class UserFailure(click.ClickException):
    """A UserError as click shows and exits: `<label>: <message>` on stderr, the error's exit status."""

    def __init__(self, error: UserError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]
        self.label = error.label

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.label}: {self.format_message()}", file=file, err=file is None)


def _reporting_user_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def invoke(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except UsageError as exc:
            # Raised inside the command's context, so click adds its usage line and help hint.
            raise click.UsageError(str(exc)) from None
        except UserError as exc:
            raise UserFailure(exc) from None
        except ModuleNotFoundError as exc:  # a lazy import of an optional dependency
            error = missing_extra(exc, click.get_current_context().command_path)
            if error is None:
                raise
            raise UserFailure(error) from None

    invoke.reports_user_errors = True  # type: ignore[attr-defined]
    return invoke


def report_user_errors(command: click.Command) -> click.Command:
    """Make every callback of `command` (and of its subcommands) end a UserError as click's message."""
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            report_user_errors(subcommand)
    callback = command.callback
    if callback is not None and not getattr(callback, "reports_user_errors", False):
        command.callback = _reporting_user_errors(callback)
    return command


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = SUBCOMMANDS[cmd_name].split(":")
        try:
            command = getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError as exc:
            error = missing_extra(exc, f"{ctx.command_path} {cmd_name}")
            if error is None:
                raise
            return _not_installed(cmd_name, error)
        assert isinstance(command, click.Command) and command.name == cmd_name, SUBCOMMANDS[cmd_name]
        return report_user_errors(command)


def _not_installed(name: str, error: MissingExtra) -> click.Command:
    """Stands in for a command whose module needs an extra: listed in --help, and whatever its arguments
    (--help included) it says which extra to install."""

    def callback(args: tuple[str, ...]) -> None:
        raise UserFailure(error)

    return click.Command(
        name,
        callback=callback,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=f"Not installed (the [{error.extra}] extra).",
    )


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="webhook")
def main() -> None:
    """Inject audience-bound projected service-account tokens into pods, and make them trusted elsewhere."""


def run() -> None:
    """The `webhook` console script: the CLI in a short-lived process of its own (tests run `main` in theirs).

    The cyclic garbage collector is off: a big render holds every document, and the collector would rescan
    them all again and again (`webhook serve`, long-lived, turns it back on). At the end the process exits
    without the interpreter's teardown, which would free every document object one by one (both measured in
    docs/benchmarks.md). A traceback (a bug) still takes the normal way out.
    """
    gc.disable()
    code: object = 0
    ending: SystemExit | None = None
    try:
        main()
    except SystemExit as exc:  # click's standalone mode always ends here
        # Held till os._exit: `except ... as` deletes its name at the end of the block, and with the last
        # reference to the exception go its traceback's frames and whatever they still hold (documents).
        ending = exc
        code = ending.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
