"""Click options generated from a settings model, shared by `webhook render` and `webhook serve`.

Each field of the model is a flag named after it (`default_mount_path` -> `--default-mount-path`), with the
field's description as help and its default shown; webhook.settings.Flag tunes a field's flag. Usage:

    @click.command()
    @settings_options(CoreSettings)
    def cmd(**kwargs):
        settings = settings_from_options(CoreSettings, kwargs)   # pops the settings' keys out of kwargs

Every option defaults to None ("not given") so env vars (WEBHOOK_*) and the --config file still apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import click
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from webhook.errors import UsageError
from webhook.settings import CoreSettings, Flag, load_settings, read_config_file
from webhook.settings_errors import describe

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=CoreSettings)

CONFIG_OPTION = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML file of settings (keys as the long flags, without --). Flags and WEBHOOK_* env vars win.",
)


def flag_fields(model: type[CoreSettings]) -> Iterator[tuple[str, FieldInfo]]:
    """The fields that are flags: the model's own first, then the core's (the order of --help)."""
    fields = model.model_fields
    own = [name for name in fields if name not in CoreSettings.model_fields]
    for name in [*own, *CoreSettings.model_fields]:
        if not _flag(fields[name]).env_only:
            yield name, fields[name]


def settings_options(model: type[CoreSettings]) -> Callable[[F], F]:
    """Add --config and a flag per field of `model` to a click command."""
    options = [CONFIG_OPTION, *(_option(name, field) for name, field in flag_fields(model))]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def settings_from_options(cls: type[S], kwargs: dict[str, Any]) -> S:
    """Pop --config and the settings' flags out of kwargs and build settings; bad values are a UsageError."""
    config = kwargs.pop("config", None)
    flags = {name: kwargs.pop(name, None) for name, _ in flag_fields(cls)}
    try:
        return load_settings(cls, config_file=config, **flags)  # or ConfigFileError, a UsageError
    except ValidationError as exc:
        from_file = read_config_file(config) if config else {}
        raise UsageError(describe(exc, flags, config, from_file)) from None


def _flag(field: FieldInfo) -> Flag:
    return next((m for m in field.metadata if isinstance(m, Flag)), Flag())


def _option(name: str, field: FieldInfo) -> Callable[[F], F]:
    flag, spec = "--" + name.replace("_", "-"), _flag(field)
    kind = _without_none(field.annotation)
    help = field.description or ""
    default = field.get_default(call_default_factory=True)
    if default not in (None, "", False, []):
        help += f" [{','.join(default) if isinstance(default, list) else default}]"
    kwargs: dict[str, Any] = {"default": None, "help": help}
    declarations = [flag]
    if kind is bool:
        if spec.negatable:
            declarations = [f"{flag}/--no-{flag[2:]}"]
        else:
            kwargs["is_flag"] = True
    elif get_origin(kind) is Literal:
        kwargs["type"] = click.Choice([str(choice) for choice in get_args(kind)])
    elif kind in (int, float):
        kwargs["type"] = kind
    elif kind is Path:
        kwargs["type"] = click.Path(file_okay=not spec.directory, dir_okay=spec.directory, path_type=Path)
    return click.option(*declarations, name, **kwargs)


def _without_none(annotation: Any) -> Any:
    """`X | None` -> X."""
    if get_origin(annotation) in (Union, UnionType):
        args = [arg for arg in get_args(annotation) if arg is not NoneType]
        if len(args) == 1:
            return args[0]
    return annotation
