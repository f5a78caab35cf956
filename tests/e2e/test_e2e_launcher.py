"""How the launcher wires the platform together: ports, routing, the gateway token, the
members JWKS URL and the payments sandbox partners (no servers started)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kopano.devstack.launcher import Config, DevStack, LaunchError, ServerUrls, route_supergraph
from kopano.devstack.services import GATEWAY, SERVICES, ServiceSpec

SUPERGRAPH = """enum join__Graph {
  MEMBERS @join__graph(name: "members", url: "http://127.0.0.1:4001/graphql")
  PAYMENTS @join__graph(name: "payments", url: "http://127.0.0.1:4004/graphql")
}
"""


def stack(tmp_path: Path, **env: str) -> DevStack:
    config = Config(data_dir=tmp_path, env={"PATH": "/bin", **env})
    built = DevStack(config)
    built.urls = ServerUrls(
        postgres="postgresql://postgres@127.0.0.1:5/postgres", kafka="k:9", mongo="mongodb://m:1"
    )
    return built


def test_default_ports_stay_the_fixed_ones(tmp_path: Path) -> None:
    built = stack(tmp_path)
    assert {s.name: s.port for s in built.registry} == {
        "members": 4001,
        "content": 4002,
        "opportunities": 4003,
        "payments": 4004,
    }
    assert built.gateway is not None
    assert built.gateway.port == 4000


def test_an_offset_moves_every_port_and_prefix_ports_win(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, env={"MEMBERS_PORT": "31001", "GATEWAY_PORT": "31000"})
    config.port_offset = 100
    built = DevStack(config)
    ports = {s.name: s.port for s in built.registry}
    assert ports == {"members": 31001, "content": 4102, "opportunities": 4103, "payments": 4104}
    assert built.gateway is not None
    assert built.gateway.graphql_url == "http://127.0.0.1:31000/graphql"


@pytest.mark.parametrize("value", ["http", "0", "70000"])
def test_a_malformed_port_is_refused_with_its_name(tmp_path: Path, value: str) -> None:
    with pytest.raises(LaunchError, match="CONTENT_PORT"):
        stack(tmp_path, CONTENT_PORT=value)


def test_routing_urls_follow_the_ports() -> None:
    routed = route_supergraph(SUPERGRAPH, {"payments": "http://127.0.0.1:9/graphql"})
    assert 'name: "payments", url: "http://127.0.0.1:9/graphql"' in routed
    assert 'name: "members", url: "http://127.0.0.1:4001/graphql"' in routed
    assert route_supergraph(SUPERGRAPH, {}) == SUPERGRAPH


def test_the_gateway_gets_a_routed_copy_only_off_the_default_ports(tmp_path: Path) -> None:
    source = tmp_path / "supergraph.graphql.in"
    source.write_text(SUPERGRAPH)
    built = stack(tmp_path)
    built.services = [s for s in built.registry if s.name in ("members", "payments")]
    assert built.routed_supergraph(source) == source
    moved = stack(tmp_path, PAYMENTS_PORT="39004")
    moved.services = [s for s in moved.registry if s.name in ("members", "payments")]
    copy = moved.routed_supergraph(source)
    assert copy == tmp_path / "supergraph.graphql"
    assert 'url: "http://127.0.0.1:39004/graphql"' in copy.read_text()


def test_every_process_shares_one_gateway_token_and_the_members_jwks(tmp_path: Path) -> None:
    built = stack(tmp_path, MEMBERS_PORT="32001")
    built.plan_services()
    built.database_urls = {s.name: "postgresql+asyncpg://db" for s in built.services}
    envs = [built.service_env(s) for s in built.services]
    tokens = {env["KOPANO_GATEWAY_TOKEN"] for env in envs}
    assert len(tokens) == 1
    token = tokens.pop()
    assert len(token) >= 32
    assert {env["KOPANO_JWKS_URL"] for env in envs} == {
        "http://127.0.0.1:32001/.well-known/jwks.json"
    }
    # Kept in the data directory, readable by its owner only, and reused by the next run.
    path = tmp_path / "gateway-token"
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stack(tmp_path).gateway_token == token
    # A token from the environment wins.
    assert stack(tmp_path, KOPANO_GATEWAY_TOKEN="from-env").gateway_token == "from-env"


def test_payments_and_its_sandbox_partners_point_at_each_other(tmp_path: Path) -> None:
    pytest.importorskip("payments.sandbox")
    built = stack(tmp_path, PAYMENTS_PORT="33004", PAYMENTS_SANDBOX_PORT="33014")
    built.plan_services()
    [(owner, companion)] = built.companions
    assert owner.name == "payments"
    assert companion.spec.port == 33014
    built.database_urls = {"payments": "postgresql+asyncpg://db"}
    payments = built.service_env(owner)
    sandbox = built.service_env(companion.spec)
    assert payments["PAYMENTS_PARTNER_BASE_URL"] == "http://127.0.0.1:33014"
    assert sandbox["PAYMENTS_SANDBOX_WEBHOOK_URL"] == "http://127.0.0.1:33004/webhooks"
    assert sandbox["PAYMENTS_SANDBOX_PORT"] == "33014"
    assert sandbox["PAYMENTS_SANDBOX_ENVIRONMENT"] == "dev"
    # A real partner in the environment: no sandbox.
    real = stack(tmp_path, PAYMENTS_PARTNER_BASE_URL="https://partner.example")
    real.plan_services()
    assert real.companions == []


def test_registry_ports_are_unchanged_by_resolution() -> None:
    # Resolution makes copies; the registry itself keeps the documented defaults.
    assert [s.port for s in SERVICES] == [4001, 4002, 4003, 4004]
    assert GATEWAY.port == 4000
    assert isinstance(GATEWAY, ServiceSpec)


def test_up_refuses_a_taken_gateway_port_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.endswith("_PORT")}
        env.update({"GATEWAY_PORT": str(port), "KOPANO_PORT_OFFSET": "20000", "NO_COLOR": "1"})
        done = subprocess.run(
            [sys.executable, "-m", "kopano.devstack", "up", "--data-dir", str(tmp_path / "d")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{port} (gateway)" in done.stdout
    # Nothing was started: no server data was created.
    assert not (tmp_path / "d" / "postgres").exists()
