"""Settings that fail validation, told in the project's words: which flag, WEBHOOK_* variable or --config key
gave the bad value, and what it must be (pydantic's own wording, `Input should be ...`, never shows)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

# pydantic error type -> what the value must be (ctx fills the blanks)
REASONS = {
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "literal_error": "must be one of {expected}",
    "extra_forbidden": "is not a setting",
}


def env_name(field: str) -> str:
    return f"WEBHOOK_{field.upper()}"


def _env_value(field: str) -> str | None:
    """The value of the field's variable; pydantic-settings matches its name case-insensitively."""
    wanted = env_name(field)
    return next((value for key, value in os.environ.items() if key.upper() == wanted), None)


def _reason(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error" and "error" in ctx:
        return str(ctx["error"])
    template = REASONS.get(error["type"])
    if template is None:
        return "is not a valid value"
    shown = {key: _number(value) for key, value in ctx.items()}
    try:
        return template.format(**shown)
    except (KeyError, IndexError):
        return "is not a valid value"


def _number(value: Any) -> Any:
    """90.0 (a float flag, or a float field's bound) reads as 90."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def describe(
    exc: ValidationError, flags: Mapping[str, Any], config: Path | None, from_file: Mapping[str, Any]
) -> str:
    """One line naming each bad setting by where its value came from (flags > env > --config)."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        reason = _reason(error)
        if flags.get(field) is not None:
            value = flags[field]
            shown = ",".join(map(str, value)) if isinstance(value, list | tuple) else _number(value)
            where = f"--{field.replace('_', '-')} {shown}"
        elif (env := _env_value(field)) is not None:
            where = f"{env_name(field)}={env!r} (from the environment)"
        elif field in from_file:
            where = f"--config {config}: {field.replace('_', '-')}: {from_file[field]!r}"
        else:
            where = field.replace("_", "-") or "settings"
        problems.append(f"{where}: {reason}")
    return "; ".join(problems)
