"""The errors a user can fix (bad input, flags or files), and how the `webhook` command reports them.

Code anywhere raises a UserError whose message names what is wrong; the command line (webhook/cli.py) is
the one place that turns it into a message on stderr and an exit status, never a traceback. This module
imports nothing, so the core can raise these errors without depending on the command line.
"""

from __future__ import annotations


class UserError(Exception):
    """Printed as `<label>: <message>` on stderr; the command exits with `exit_code`."""

    exit_code = 1
    label = "Error"


class UsageError(UserError):
    """Wrong, missing or conflicting flags: click's usage line and hint come before the message."""

    exit_code = 2


class InputError(UserError):
    """An input file that cannot be read, with the file and line.

    `webhook render` exits 2 for it (public), under the same lower-case `error:` label as its other
    stderr lines (`note:`, `warning:`), which CI logs are searched for.
    """

    exit_code = 2
    label = "error"

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}" if line else f"{source}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason
