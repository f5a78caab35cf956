"""The benchmark's subgraphs, oracle and supergraph: same data and semantics as the reference."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bench import data
from bench.compose import SUPERGRAPH, subgraph_list
from bench.run import QUERIES
from bench.schemas import SUBGRAPH_NAMES, SUBGRAPH_SDL
from bench.subgraphs import SubgraphServer

ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ...on %s { %s } } }"


@pytest.fixture(scope="module")
def server() -> SubgraphServer:
    return SubgraphServer(cache=False)


def run(server: SubgraphServer, route: str, query: str, variables: Any = None) -> Any:
    status, body, _ = server.execute(route, orjson.dumps({"query": query, "variables": variables}))
    assert status == 200
    out = orjson.loads(body)
    assert "errors" not in out, out
    return out["data"]


def entities(
    server: SubgraphServer, route: str, typename: str, fields: str, reps: list[Any]
) -> Any:
    reps = [{"__typename": typename, **r} for r in reps]
    return run(server, route, ENTITIES % (typename, fields), {"r": reps})["_entities"]


def test_oracle_answers_the_nested_query_with_the_reference_size(server: SubgraphServer) -> None:
    status, body, _ = server.execute(
        "monolith", orjson.dumps({"query": QUERIES["nested"].read_text()})
    )
    assert status == 200
    # graphql-gateways-benchmark's expected TestQuery response is 87,599 bytes of compact JSON
    assert len(body) == 87_599
    result = orjson.loads(body)["data"]
    assert [u["username"] for u in result["users"]][:2] == ["urigo", "dotansimha"]
    assert [p["name"] for p in result["topProducts"]] == ["Table", "Couch", "Glass", "Chair", "TV"]
    assert all(p["shippingEstimate"] is None for p in result["topProducts"])


def test_small_query_needs_only_accounts_and_matches_the_oracle(server: SubgraphServer) -> None:
    query = QUERIES["small"].read_text()
    assert run(server, "accounts", query) == run(server, "monolith", query)
    assert [u["id"] for u in run(server, "accounts", query)["users"]] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]


def test_each_subgraph_serves_its_sdl(server: SubgraphServer) -> None:
    for name in SUBGRAPH_NAMES:
        assert run(server, name, "{ _service { sdl } }")["_service"]["sdl"] == SUBGRAPH_SDL[name]


def test_a_hand_federated_top_products_equals_the_monolith(server: SubgraphServer) -> None:
    """Resolve topProducts across all four subgraphs the way a gateway plans it."""
    fields = "upc name price weight inStock shippingEstimate reviews { id body author { id username name } }"
    expected = run(server, "monolith", f"{{ topProducts {{ {fields} }} }}")["topProducts"]

    products = run(server, "products", "{ topProducts { upc name price weight } }")["topProducts"]
    stock = entities(
        server,
        "inventory",
        "Product",
        "inStock shippingEstimate",
        [{"upc": p["upc"], "price": p["price"], "weight": p["weight"]} for p in products],
    )
    reviews = entities(
        server,
        "reviews",
        "Product",
        "reviews { id body author { id username } }",
        [{"upc": p["upc"]} for p in products],
    )
    author_ids = {r["author"]["id"] for rs in reviews for r in rs["reviews"]}
    names = {
        u["id"]: u["name"]
        for u in entities(server, "accounts", "User", "id name", [{"id": i} for i in author_ids])
    }
    federated = [
        {
            **p,
            **s,
            "reviews": [
                {**r, "author": {**r["author"], "name": names[r["author"]["id"]]}}
                for r in rv["reviews"]
            ],
        }
        for p, s, rv in zip(products, stock, reviews, strict=True)
    ]
    assert federated == expected


def test_reviews_provides_username_and_every_user_has_reviews_1_and_2(
    server: SubgraphServer,
) -> None:
    got = entities(server, "reviews", "User", "reviews { id author { username } }", [{"id": "5"}])
    assert got == [{"reviews": [{"id": i, "author": {"username": "urigo"}} for i in ("1", "2")]}]


def test_inventory_ignores_the_required_fields_as_the_reference_does(
    server: SubgraphServer,
) -> None:
    got = entities(
        server,
        "inventory",
        "Product",
        "upc inStock shippingEstimate",
        [{"upc": "3", "price": 15, "weight": 20}],
    )
    assert got == [{"upc": "3", "inStock": False, "shippingEstimate": None}]
    assert data.shipping_estimate(15, 20) == 10  # what it would be from the representation


def test_unknown_representation_resolves_to_null(server: SubgraphServer) -> None:
    assert entities(server, "products", "Product", "name", [{"upc": "404"}]) == [None]


def test_bad_query_is_an_error_not_a_crash(server: SubgraphServer) -> None:
    status, body, cacheable = server.execute("accounts", b'{"query": "{ nope }"}')
    assert status == 200
    assert b"errors" in body
    assert not cacheable
    status, _, _ = server.execute("accounts", b"not json")
    assert status == 400


def test_committed_supergraph_is_what_our_composer_produces() -> None:
    composition = pytest.importorskip("gateway.composition")
    sources = [composition.SubgraphSource(s["name"], s["url"], s["sdl"]) for s in subgraph_list()]
    assert composition.compose(sources).strip() == SUPERGRAPH.read_text().strip()
