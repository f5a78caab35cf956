"""`python -m gateway.composition`: compose from files or running subgraphs, and check."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import orjson
import pytest
from composition_fixtures import SHOP, SHOP_URL

from gateway.composition.cli import main

GOLDEN = Path(__file__).parent / "golden" / "shop.graphql"


@pytest.fixture
def shop_config(tmp_path: Path) -> Path:
    lines = [f'[[subgraphs]]\nname = "{name}"\nurl = "{SHOP_URL}/{name}"\n' for name in SHOP]
    config = tmp_path / "subgraphs.toml"
    config.write_text("\n".join(lines))
    for name, sdl in SHOP.items():
        (tmp_path / f"{name}.graphql").write_text(sdl)
    return config


def _file_args(config: Path) -> list[str]:
    return [f"{name}={config.parent / (name + '.graphql')}" for name in SHOP]


def test_compose_from_files_then_check(shop_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "supergraph.graphql"
    common = ["--config", str(shop_config), "--supergraph", str(out)]
    assert main([*common, "compose", "--from-files", *_file_args(shop_config)]) == 0
    assert out.read_text() == GOLDEN.read_text()


def test_check_fails_with_a_diff_when_stale(capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(__file__).parents[3] / "gateway" / "subgraphs.toml"
    committed = Path(__file__).parents[3] / "gateway" / "supergraph.graphql"
    stale = Path(committed.parent / ".." / "does-not-exist.graphql")
    code = main(["--config", str(config), "--supergraph", str(stale), "check"])
    if code == 2:
        pytest.skip("the services' schemas are not importable here")
    assert code == 1
    output = capsys.readouterr()
    assert "+schema" in output.out
    assert "is stale" in output.err


def test_composition_errors_exit_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "subgraphs.toml"
    config.write_text('[[subgraphs]]\nname = "a"\nurl = "http://127.0.0.1:9/graphql"\n')
    sdl = tmp_path / "a.graphql"
    sdl.write_text(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3")\n'
        "type Query { a: Nope }"
    )
    code = main(["--config", str(config), "compose", "--stdout", "--from-files", f"a={sdl}"])
    assert code == 1
    assert "[INVALID_GRAPHQL] [a] Unknown type Nope" in capsys.readouterr().err


class _ServiceSdl(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        name = self.path.strip("/")
        length = int(self.headers["Content-Length"])
        query = orjson.loads(self.rfile.read(length))["query"]
        assert "_service" in query
        body = orjson.dumps({"data": {"_service": {"sdl": SHOP[name]}}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sdl_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _ServiceSdl)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_compose_from_running_subgraphs(sdl_server: str, tmp_path: Path) -> None:
    config = tmp_path / "subgraphs.toml"
    config.write_text(
        "\n".join(f'[[subgraphs]]\nname = "{n}"\nurl = "{sdl_server}/{n}"\n' for n in SHOP)
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.composition",
            "--config",
            str(config),
            "compose",
            "--from-urls",
            "--stdout",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    expected = GOLDEN.read_text().replace(SHOP_URL, sdl_server)
    assert result.stdout == expected


def test_access_control_is_linked_so_that_apollo_gateway_loads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "subgraphs.toml"
    config.write_text('[[subgraphs]]\nname = "a"\nurl = "http://127.0.0.1:9/graphql"\n')
    sdl = tmp_path / "a.graphql"
    sdl.write_text(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", '
        'import: ["@authenticated"])\ntype Query { me: Int @authenticated }'
    )
    code = main(["--config", str(config), "compose", "--stdout", "--from-files", f"a={sdl}"])
    assert code == 0
    output = capsys.readouterr()
    assert '  @link(url: "https://specs.apollo.dev/authenticated/v0.1")\n' in output.out
    assert "  me: Int @authenticated\n" in output.out
    assert "note: @authenticated is linked without `for: SECURITY`" in output.err
