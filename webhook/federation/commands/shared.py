"""What every federation command module shares: notes and warnings on stderr, the --out option."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
out_option = click.option(
    "--out", "-o", "out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
