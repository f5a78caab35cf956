"""Our supergraphs against the Node reference implementations (optional).

Runs only when `node` is installed and KOPANO_NODE_MODULES points at a node_modules directory
holding @apollo/composition, @apollo/gateway and @graphql-hive/gateway (for instance an
`npm install` of the gateway benchmark's package.json). It checks that Apollo's composition
produces byte-for-byte the same supergraph as ours, and that Apollo Gateway and Hive Gateway
both load our supergraphs and derive the same API schema from them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from composition_fixtures import DIASPORA, shop_sources, sources, without_access_control

from gateway.composition import SubgraphSource, compose
from gateway.composition.config import DEFAULT_SUPERGRAPH

NODE = shutil.which("node")
MODULES = os.environ.get("KOPANO_NODE_MODULES", "")
pytestmark = pytest.mark.skipif(
    NODE is None
    or not MODULES
    or not (Path(MODULES) / "@apollo" / "gateway").is_dir()
    or not (Path(MODULES) / "@graphql-hive" / "gateway").is_dir(),
    reason="needs node and KOPANO_NODE_MODULES with @apollo/gateway and @graphql-hive/gateway",
)

_COMPOSE_JS = """
const { createRequire } = require("node:module");
const req = createRequire(process.argv[1] + "/_");
const { composeServices } = req("@apollo/composition");
const { parse } = req("graphql");
const subs = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const r = composeServices(subs.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(s.sdl) })));
process.stdout.write(JSON.stringify({ sdl: r.supergraphSdl ?? null,
  errors: (r.errors ?? []).map((e) => e.message) }));
"""

_LOAD_JS = """
const { createRequire } = require("node:module");
const req = createRequire(process.argv[1] + "/_");
const sdl = require("node:fs").readFileSync(0, "utf8");
const q = "{ __schema { types { name fields { name } } } }";
const shape = (d) => d.__schema.types.filter((t) => !t.name.startsWith("__"))
  .map((t) => [t.name, (t.fields || []).map((f) => f.name).sort()]).sort();
(async () => {
  const { ApolloGateway } = req("@apollo/gateway");
  const gw = new ApolloGateway({ supergraphSdl: sdl });
  const { schema } = await gw.load();
  const a = await req("graphql").graphql({ schema, source: q });
  await gw.stop();
  const { createGatewayRuntime } = req("@graphql-hive/gateway");
  const rt = createGatewayRuntime({ supergraph: sdl, logging: false });
  const res = await rt.fetch("http://localhost/graphql", { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ query: q }) });
  const h = await res.json();
  process.stdout.write(JSON.stringify({ apollo: a.errors ? a.errors : shape(a.data),
    hive: h.errors ? h.errors : shape(h.data) }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _node(script: str, stdin: str) -> Any:
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", script, MODULES],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def _apollo_compose(subgraphs: list[SubgraphSource]) -> str:
    payload = json.dumps([{"name": s.name, "url": s.url, "sdl": s.sdl} for s in subgraphs])
    result = _node(_COMPOSE_JS, payload)
    assert result["errors"] == []
    sdl: str = result["sdl"]
    return sdl


@pytest.mark.parametrize(
    "subgraphs",
    [
        pytest.param(shop_sources(), id="shop"),
        pytest.param(sources(DIASPORA), id="diaspora"),
    ],
)
def test_apollo_composition_agrees_byte_for_byte(subgraphs: list[SubgraphSource]) -> None:
    assert compose(subgraphs) == _apollo_compose(subgraphs)


@pytest.mark.parametrize(
    "supergraph",
    [
        pytest.param(lambda: compose(shop_sources()), id="shop"),
        pytest.param(lambda: compose(sources(without_access_control(DIASPORA))), id="diaspora"),
        pytest.param(lambda: DEFAULT_SUPERGRAPH.read_text(), id="committed"),
    ],
)
def test_apollo_gateway_and_hive_gateway_load_it(supergraph: Any) -> None:
    loaded = _node(_LOAD_JS, supergraph())
    assert isinstance(loaded["apollo"], list), loaded["apollo"]
    assert loaded["apollo"] == loaded["hive"]
    assert any(name == "Query" for name, _ in loaded["apollo"])
