"""What every federation command module shares: notes and warnings on stderr, --out, and -o/--output.

The CLI's convention: `-o/--output` is always the output format, `--out FILE` the file (it has no short
form: `-o json` must never write a file named json).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from webhook.federation.common import dump_json, dump_yaml

F = TypeVar("F", bound=Callable[..., Any])
out_option = click.option(
    "--out", "out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)


def format_option(
    choices: Sequence[str], default: str, help: str, *, dest: str = "output", format_alias: bool = False
) -> Callable[[F], F]:
    """-o/--output, the output format, declared one way for every command (`--format` too where a command
    had it before -o/--output was the format everywhere)."""
    names = ["-o", "--output", *(["--format"] if format_alias else []), dest]
    return click.option(
        *names, type=click.Choice(list(choices)), default=default, show_default=True, help=help
    )


# Kubernetes objects: YAML documents, or JSON (one object, or a v1 List of several, as kubectl prints them).
documents_format_option = format_option(["yaml", "json"], "yaml", "Output format.")


def dump_documents(docs: Sequence[Mapping[str, Any]], output: str) -> str:
    if output == "yaml":
        return dump_yaml(docs)
    if len(docs) == 1:
        return dump_json(docs[0])
    return dump_json({"apiVersion": "v1", "kind": "List", "items": list(docs)})


def one_format_option(written: str) -> Callable[[F], F]:
    """A hidden -o/--output for a command that writes one format only: given, it is refused with a message
    saying so (rather than click's bare `No such option`)."""

    def refuse(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:
            raise click.UsageError(  # raised while parsing: click's own kind
                f"-o/--output selects an output format, and `{ctx.command_path}` writes {written} only; "
                "to write a file, use --out FILE",
                ctx,
            )

    return click.option(
        "-o", "--output", "_output", hidden=True, expose_value=False, callback=refuse, is_eager=False
    )


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
