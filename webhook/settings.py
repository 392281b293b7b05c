"""One settings model for `serve` and `render`: flags > env vars (WEBHOOK_*) > --config YAML > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

KNOWN_DIALECTS = ("generic", "eks")


class ConfigFileError(ValueError):
    """The --config file cannot be read or is not a mapping."""


class CoreSettings(BaseSettings):
    """What the mutation core reads; everything here changes the patch a pod gets."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", extra="forbid", validate_default=True)

    annotation_prefix: str = "projected-token.io"
    # NoDecode: WEBHOOK_DIALECTS=generic,eks is a comma list, not JSON.
    dialects: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["generic"])
    default_expiration_seconds: int = Field(3600, ge=600, le=4294967296)
    default_mount_path: str = "/var/run/secrets/tokens"

    # Mirrors the EKS Pod Identity Webhook's flags (--aws-default-region, --sts-regional-endpoint, ...).
    eks_region: str = ""
    eks_sts_regional_endpoints: bool = False
    eks_token_audience: str = "sts.amazonaws.com"
    eks_token_mount_path: str = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
    eks_token_expiration: int = Field(86400, ge=600, le=4294967296)

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

    @field_validator("default_mount_path", "eks_token_mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        from webhook.vocabulary import (
            mount_path_problem,
        )  # the annotations' own rule (no settings import there)

        if reason := mount_path_problem(value):
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


S = TypeVar("S", bound=CoreSettings)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a --config YAML file; keys may use dashes or underscores."""
    from ruamel.yaml import YAML  # imported here: most runs have no --config
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text())
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
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
