"""One settings model for `serve` and `render`: flags > env vars (WEBHOOK_*) > --config YAML > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from webhook.dialects import KNOWN_DIALECTS, REGISTRY
from webhook.dialects.base import Flag
from webhook.errors import UsageError
from webhook.vocabulary import MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS, mount_path_problem

__all__ = ["KNOWN_DIALECTS", "BaseCoreSettings", "ConfigFileError", "CoreSettings", "Flag", "load_settings"]


class ConfigFileError(UsageError):
    """The --config file cannot be read or is not a mapping."""


class BaseCoreSettings(BaseSettings):
    """What the mutation core reads; everything here changes the patch a pod gets. The dialects' own
    settings are mixed in below (CoreSettings)."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", extra="forbid", validate_default=True)

    annotation_prefix: str = Field("projected-token.io", description="Prefix of the generic annotations.")
    # NoDecode: WEBHOOK_DIALECTS=generic,eks is a comma list, not JSON.
    dialects: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["generic"],
        description=f"Comma-separated dialects to enable: {', '.join(KNOWN_DIALECTS)}.",
    )
    default_expiration_seconds: int = Field(
        3600,
        ge=MIN_EXPIRATION_SECONDS,
        le=MAX_EXPIRATION_SECONDS,
        description="Generic token lifetime default.",
    )
    default_mount_path: str = Field("/var/run/secrets/tokens", description="Generic token directory default.")

    @field_validator("dialects", mode="before")
    @classmethod
    def _split_dialects(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("dialects")
    @classmethod
    def _known_dialects(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in KNOWN_DIALECTS]
        if unknown:
            raise ValueError(f"unknown dialect(s) {unknown}; known: {', '.join(KNOWN_DIALECTS)}")
        if not value:
            raise ValueError("at least one dialect must be enabled")
        return list(dict.fromkeys(value))

    @field_validator("default_mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if reason := mount_path_problem(value):  # the annotations' own rule
            raise ValueError(f"mount path {value!r} {reason}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init kwargs carry both the flags and the config file (flags merged over it in load_settings).
        return (init_settings, env_settings)


if TYPE_CHECKING:
    CoreSettings = BaseCoreSettings
else:
    # Every dialect's settings model mixed into the core one: one flag, env var and config key per field.
    # The dialects' bases go first so the core's fields lead in --help (pydantic orders fields by base).
    CoreSettings = type(
        "CoreSettings",
        (*reversed([d.settings for d in REGISTRY.values() if d.settings is not None]), BaseCoreSettings),
        {"__module__": __name__, "__doc__": BaseCoreSettings.__doc__},
    )

S = TypeVar("S", bound=BaseCoreSettings)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a --config YAML file; keys may use dashes or underscores."""
    from ruamel.yaml import YAML  # imported here: most runs have no --config
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text())
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: config is not UTF-8 text (byte {exc.start})") from exc
    except YAMLError as exc:
        raise ConfigFileError(f"{path}: invalid YAML: {exc}".splitlines()[0]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: config must be a mapping of setting names to values")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def load_settings(cls: type[S], config_file: Path | None = None, **flags: Any) -> S:
    """Build settings: explicit flags (None means 'not given') win over env vars, then the config file."""
    from_file = read_config_file(config_file) if config_file else {}
    given = {key: value for key, value in flags.items() if value is not None}
    # Env vars beat the file: drop file keys that the environment sets.
    from_file = {k: v for k, v in from_file.items() if f"WEBHOOK_{k}".upper() not in os.environ}
    return cls(**{**from_file, **given})
