"""What every federation command module shares: the one place InputError becomes click's `Error:` line,
notes and warnings on stderr, the --out option."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from webhook.federation.common import InputError

F = TypeVar("F", bound=Callable[..., Any])
out_option = click.option(
    "--out", "-o", "out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)


def friendly(func: F) -> F:
    """Turn InputError into click's one-line `Error: ...` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
