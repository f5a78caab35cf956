"""Gateway settings: environment variables (`GATEWAY_*`, plus the platform-wide `KOPANO_*`
identity values) and matching command-line flags. A flag wins over the environment."""

from __future__ import annotations

import argparse
import os
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["enforce", "measure", "off"]


SUBGRAPH_URL_PREFIX = "GATEWAY_SUBGRAPH_URL_"


def subgraph_urls_from_env() -> dict[str, str]:
    """`GATEWAY_SUBGRAPH_URL_MEMBERS=http://members:4001/graphql` routes the members subgraph."""
    return {
        name[len(SUBGRAPH_URL_PREFIX) :].upper(): value
        for name, value in os.environ.items()
        if name.startswith(SUBGRAPH_URL_PREFIX) and value
    }


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    # serving
    supergraph: str = ""
    supergraph_url: str = ""  # polled instead of the file when set
    reload_interval: float = 0.0  # seconds between supergraph checks; 0 = no hot reload
    host: str = "127.0.0.1"
    port: int = 4000
    environment: Literal["dev", "test", "prod"] = "dev"
    dedup: bool = True
    explain: bool = True
    introspection: bool = True
    graphiql: bool = True
    mask_errors: bool | None = None  # None: masked outside dev
    log_level: str = "warning"
    console_logs: bool = False
    shutdown_grace: float = 10.0
    # Subgraph name -> routing URL, overriding the supergraph's (GATEWAY_SUBGRAPH_URL_<NAME>).
    subgraph_urls: dict[str, str] = Field(default_factory=subgraph_urls_from_env)

    # identity and authorization
    jwks_url: str = Field("", validation_alias=AliasChoices("GATEWAY_JWKS_URL", "KOPANO_JWKS_URL"))
    jwt_issuer: str = Field(
        "kopano-members", validation_alias=AliasChoices("GATEWAY_JWT_ISSUER", "KOPANO_JWT_ISSUER")
    )
    jwt_audience: str = Field(
        "kopano", validation_alias=AliasChoices("GATEWAY_JWT_AUDIENCE", "KOPANO_JWT_AUDIENCE")
    )
    jwt_algorithms: list[str] = ["EdDSA"]
    gateway_token: SecretStr = Field(
        SecretStr(""),
        validation_alias=AliasChoices("GATEWAY_TOKEN", "KOPANO_GATEWAY_TOKEN"),
    )
    authz: Mode = "enforce"
    policies: dict[str, list[str]] = {}  # policy name -> roles that satisfy it

    # limits (0 = off)
    limits_mode: Literal["enforce", "measure"] = "enforce"
    max_body_bytes: int = 1_000_000
    max_tokens: int = 15_000
    max_depth: int = 0
    max_aliases: int = 0
    max_root_fields: int = 0
    max_cost: int = 0
    max_batch: int = 10  # operations per JSON array; 0 = arrays refused

    # rate limiting (0 = off)
    rate_limit: int = 0  # requests per window per client
    rate_limit_window: float = 60.0
    redis_url: str = ""

    # persisted queries
    apq: bool = True
    safelist: str = ""  # manifest file (id -> document); only those operations run

    # resilience
    subgraph_timeout: float = 30.0
    subgraph_timeouts: dict[str, float] = {}  # per subgraph name
    retries: int = 1  # extra attempts for queries after a network failure or 502/503/504
    retry_backoff: float = 0.05  # seconds; retry n waits uniform(0, min(max, backoff * 2**n))
    retry_backoff_max: float = 1.0
    breaker_failures: int = 5  # consecutive failures that open a subgraph's circuit; 0 = off
    breaker_reset: float = 10.0  # seconds before a half-open trial

    # observability
    tracing: Literal["off", "console", "otlp"] = "off"
    otlp_endpoint: str = ""

    @property
    def masking(self) -> bool:
        return self.mask_errors if self.mask_errors is not None else self.environment != "dev"


# flag -> (settings field, argparse kwargs)
_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--supergraph": ("supergraph", {"help": "path to the supergraph SDL"}),
    "--supergraph-url": ("supergraph_url", {"help": "poll the supergraph from this URL"}),
    "--reload-interval": ("reload_interval", {"type": float, "help": "hot-reload poll (s)"}),
    "--host": ("host", {}),
    "--port": ("port", {"type": int}),
    "--environment": ("environment", {"choices": ["dev", "test", "prod"]}),
    "--log-level": ("log_level", {"help": "info adds one structured access line per request"}),
    "--shutdown-grace": ("shutdown_grace", {"type": float}),
    "--jwks-url": ("jwks_url", {"help": "members service JWKS URL; enables token validation"}),
    "--jwt-issuer": ("jwt_issuer", {}),
    "--jwt-audience": ("jwt_audience", {}),
    "--jwt-algorithms": ("jwt_algorithms", {"type": lambda s: s.split(",")}),
    "--authz": ("authz", {"choices": ["enforce", "measure", "off"]}),
    "--limits-mode": ("limits_mode", {"choices": ["enforce", "measure"]}),
    "--max-body-bytes": ("max_body_bytes", {"type": int}),
    "--max-tokens": ("max_tokens", {"type": int}),
    "--max-depth": ("max_depth", {"type": int}),
    "--max-aliases": ("max_aliases", {"type": int}),
    "--max-root-fields": ("max_root_fields", {"type": int}),
    "--max-cost": ("max_cost", {"type": int}),
    "--max-batch": ("max_batch", {"type": int}),
    "--rate-limit": ("rate_limit", {"type": int, "help": "requests per window per client"}),
    "--rate-limit-window": ("rate_limit_window", {"type": float}),
    "--redis-url": ("redis_url", {}),
    "--safelist": ("safelist", {"help": "persisted-operation manifest; only those run"}),
    "--subgraph-timeout": ("subgraph_timeout", {"type": float}),
    "--retries": ("retries", {"type": int}),
    "--retry-backoff": ("retry_backoff", {"type": float, "help": "backoff base (s); 0 = none"}),
    "--retry-backoff-max": ("retry_backoff_max", {"type": float, "help": "backoff cap (s)"}),
    "--breaker-failures": ("breaker_failures", {"type": int}),
    "--breaker-reset": ("breaker_reset", {"type": float}),
    "--tracing": ("tracing", {"choices": ["off", "console", "otlp"]}),
    "--otlp-endpoint": (
        "otlp_endpoint",
        {"help": "OTLP/HTTP collector, e.g. http://otel-collector:4318 (/v1/traces added)"},
    ),
}
# boolean switches: flag -> (field, value)
_SWITCHES: dict[str, tuple[str, bool]] = {
    "--no-dedup": ("dedup", False),
    "--no-explain": ("explain", False),
    "--no-introspection": ("introspection", False),
    "--no-graphiql": ("graphiql", False),
    "--mask-errors": ("mask_errors", True),
    "--show-errors": ("mask_errors", False),
    "--no-apq": ("apq", False),
    "--console-logs": ("console_logs", True),
}


def parse_args(argv: list[str] | None = None) -> GatewaySettings:
    p = argparse.ArgumentParser(prog="gateway", description="Kopano federation gateway")
    for flag, (dest, kw) in _FLAGS.items():
        p.add_argument(flag, dest=dest, default=None, **kw)
    for flag, (dest, value) in _SWITCHES.items():
        p.add_argument(flag, dest=f"switch_{flag}", action="store_const", const=(dest, value))
    ns = vars(p.parse_args(argv))
    overrides: dict[str, Any] = {}
    for k, v in ns.items():
        if v is None:
            continue
        if k.startswith("switch_"):
            overrides[v[0]] = v[1]
        else:
            overrides[k] = v
    settings = GatewaySettings()
    if overrides:
        settings = settings.model_copy(update=overrides)
    if not settings.supergraph and not settings.supergraph_url:
        p.error("--supergraph (or GATEWAY_SUPERGRAPH / --supergraph-url) is required")
    return settings
