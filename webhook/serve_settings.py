"""The settings of `webhook serve`: the core's plus listening, TLS, sources and connection handling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from webhook.certs import DEFAULT_NAMESPACE, DEFAULT_SERVICE
from webhook.settings import CoreSettings, Flag


class ServeSettings(CoreSettings):
    """Settings of `webhook serve`: the core's plus listening, TLS, sources and connection handling."""

    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(8443, ge=0, le=65535, description="HTTPS port; 0 picks a free one.")
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Also serve GET /metrics, and nothing else, in plain HTTP on this port (on --host); "
        "0 picks a free one. Off unless given.",
    )
    tls_cert: Path | None = Field(None, description="Serving certificate (PEM); reloaded when it changes.")
    tls_key: Path | None = Field(None, description="Its private key (PEM).")
    self_signed: bool = Field(False, description="Generate a CA and serving cert into --certs-dir.")
    certs_dir: Annotated[Path, Flag(directory=True)] = Field(
        Path("certs"), description="Where --self-signed keeps its CA and certificate."
    )
    service: str = Field(DEFAULT_SERVICE, description="Service name for --self-signed SANs.")
    namespace: str = Field(DEFAULT_NAMESPACE, description="Its namespace.")
    serviceaccounts: Path | None = Field(None, description="Offline: ServiceAccounts from this YAML file.")
    kubeconfig: Path | None = Field(None, description="Watch ServiceAccounts via this kubeconfig.")
    excluded_namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated namespaces whose pods are never mutated."
    )
    # The apiserver's client keeps idle connections for 90 s and does not retry a POST on a closed one.
    keepalive_timeout: float = Field(120.0, gt=90, description="Idle keep-alive seconds, > 90.")
    shutdown_delay: float = Field(5.0, ge=0, le=300, description="On SIGTERM, serve this long unready.")
    drain_timeout: float = Field(
        20.0, gt=0, le=300, description="Then wait at most this for in-flight reviews."
    )
    lookup_timeout: float = Field(2.0, gt=0, le=10, description="Deadline of a direct ServiceAccount GET.")
    cert_reload_interval: Annotated[float, Flag(env_only=True)] = Field(2.0, gt=0, le=3600)
    serviceaccounts_reload_interval: Annotated[float, Flag(env_only=True)] = Field(2.0, gt=0, le=3600)
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log threshold.")
    # /bench/fixed, the benchmark's ceiling (docs/benchmarks.md); never in production.
    bench_endpoint: Annotated[bool, Flag(env_only=True)] = False

    @field_validator("excluded_namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            value = [str(v).strip() for v in value if str(v).strip()]
        return value
