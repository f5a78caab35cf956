"""Settings from flags and environment variables, and the app they build."""

from __future__ import annotations

from pathlib import Path

import pytest
from gw_subgraphs import supergraph_sdl

from gateway.__main__ import build_app
from gateway.config import parse_args
from gateway.persisted import PersistedQueries
from gateway.ratelimit import MemoryRateLimiter, RedisRateLimiter
from gateway.supergraph import Supergraph


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOPANO_JWKS_URL", "http://127.0.0.1:9/jwks.json")
    monkeypatch.setenv("KOPANO_GATEWAY_TOKEN", "s3cret")
    monkeypatch.setenv("GATEWAY_POLICIES", '{"staff": ["staff"]}')
    monkeypatch.setenv("GATEWAY_MAX_DEPTH", "7")
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "prod")
    s = parse_args(["--supergraph", "sg.graphql", "--max-depth", "9", "--no-introspection"])
    assert s.jwks_url == "http://127.0.0.1:9/jwks.json"
    assert s.gateway_token.get_secret_value() == "s3cret"
    assert s.policies == {"staff": ["staff"]}
    assert s.max_depth == 9  # the flag wins
    assert s.introspection is False
    assert s.masking is True  # prod masks by default
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "prod")
    assert parse_args(["--supergraph", "x", "--show-errors"]).masking is False


def test_build_app_wires_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "sg.graphql"
    path.write_text(
        supergraph_sdl(
            {n: f"http://127.0.0.1:9/{n}" for n in ("accounts", "products", "inventory", "reviews")}
        )
    )
    monkeypatch.setenv("KOPANO_GATEWAY_TOKEN", "s3cret")
    app = build_app(
        parse_args(
            [
                "--supergraph",
                str(path),
                "--jwks-url",
                "http://127.0.0.1:9/j",
                "--rate-limit",
                "5",
                "--max-cost",
                "100",
                "--subgraph-timeout",
                "2",
                "--retries",
                "0",
                "--retry-backoff",
                "0.2",
                "--retry-backoff-max",
                "3",
            ]
        )
    )
    assert app.verifier is not None
    assert isinstance(app.rate_limiter, MemoryRateLimiter)
    assert isinstance(app.persisted, PersistedQueries)
    gw = app.gateway
    assert gw.limits == {"cost": 100}
    assert gw.static_headers == b"X-Kopano-Gateway-Token: s3cret\r\n"
    assert gw.pool.timeout == 2
    assert gw.retries == 0
    assert gw.retry_backoff == (0.2, 3.0)
    app = build_app(
        parse_args(
            [
                "--supergraph",
                str(path),
                "--rate-limit",
                "5",
                "--redis-url",
                "redis://127.0.0.1:6379/0",
            ]
        )
    )
    assert isinstance(app.rate_limiter, RedisRateLimiter)
    assert app.verifier is None


def test_subgraph_urls_from_the_environment_route_the_supergraph(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Inside a cluster the composed localhost URLs are replaced per subgraph."""
    path = tmp_path / "sg.graphql"
    path.write_text(
        supergraph_sdl(
            {n: f"http://127.0.0.1:9/{n}" for n in ("accounts", "products", "inventory", "reviews")}
        )
    )
    monkeypatch.setenv("GATEWAY_SUBGRAPH_URL_ACCOUNTS", "http://accounts:4001/graphql")
    settings = parse_args(["--supergraph", str(path)])
    assert settings.subgraph_urls == {"ACCOUNTS": "http://accounts:4001/graphql"}
    urls = {
        g.subgraph: g.url
        for g in Supergraph(path.read_text(), settings.subgraph_urls).graphs.values()
    }
    assert urls["accounts"] == "http://accounts:4001/graphql"
    assert urls["products"] == "http://127.0.0.1:9/products"
