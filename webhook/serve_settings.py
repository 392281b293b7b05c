"""The settings of `webhook serve`: the core's plus listening, TLS, sources and connection handling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from webhook.certs import DEFAULT_NAMESPACE, DEFAULT_SERVICE
from webhook.settings import CoreSettings


class ServeSettings(CoreSettings):
    """Settings of `webhook serve`: the core's plus listening, TLS, sources and connection handling."""

    host: str = "0.0.0.0"
    port: int = Field(8443, ge=0, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    self_signed: bool = False
    certs_dir: Path = Path("certs")
    service: str = DEFAULT_SERVICE
    namespace: str = DEFAULT_NAMESPACE
    serviceaccounts: Path | None = None
    kubeconfig: Path | None = None
    excluded_namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The apiserver's client keeps idle connections for 90 s and does not retry a POST on a closed one.
    keepalive_timeout: float = Field(120.0, gt=90, description="idle keep-alive timeout, must exceed 90 s")
    shutdown_delay: float = Field(5.0, ge=0, le=300)
    drain_timeout: float = Field(20.0, gt=0, le=300)
    lookup_timeout: float = Field(2.0, gt=0, le=10)
    cert_reload_interval: float = Field(2.0, gt=0, le=3600)
    serviceaccounts_reload_interval: float = Field(2.0, gt=0, le=3600)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    bench_endpoint: bool = False

    @field_validator("excluded_namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            value = [str(v).strip() for v in value if str(v).strip()]
        return value
