"""Reading a supergraph: subgraph metadata and the client-facing API schema."""

from __future__ import annotations

import pytest
from graphql import print_schema
from gw_subgraphs import supergraph_sdl

from gateway.supergraph import Supergraph, SupergraphError

URLS = {k: f"http://127.0.0.1:9/{k}" for k in ("accounts", "products", "inventory", "reviews")}


def test_graphs_types_and_fields() -> None:
    sg = Supergraph(supergraph_sdl(URLS))
    assert {g.subgraph: g.url for g in sg.graphs.values()} == URLS
    product = sg.types["Product"]
    assert {g: [k.fields for k in ks] for g, ks in product.keys.items()} == {
        "INVENTORY": ["upc"],
        "PRODUCTS": ["upc"],
        "REVIEWS": ["upc"],
    }
    estimate = product.fields["shippingEstimate"]
    assert estimate.resolvable_in == {"INVENTORY"}
    requires = estimate.graphs["INVENTORY"].requires
    assert requires is not None
    assert [f.name.value for f in requires.selections] == ["price", "weight"]  # type: ignore[attr-defined]
    # external in INVENTORY, resolvable only in PRODUCTS
    assert product.fields["price"].resolvable_in == {"PRODUCTS"}
    assert sg.types["User"].fields["username"].graphs["REVIEWS"].external
    assert sg.possible["SearchResult"] == ("Product", "Category")
    assert sg.possible_in[("Account", "ACCOUNTS")] == {"User"}


def test_api_schema_hides_federation_machinery_and_inaccessible_fields() -> None:
    sdl = print_schema(Supergraph(supergraph_sdl(URLS)).api_schema)
    assert "join__" not in sdl
    assert "link" not in sdl
    assert "secretCost" not in sdl
    assert "inaccessible" not in sdl
    assert "shippingEstimate: Int!" in sdl


def test_access_control_directives_are_recorded_and_stripped() -> None:
    sdl = supergraph_sdl(URLS).replace(
        "whoami: String @join__field(graph: ACCOUNTS)",
        'whoami: String @join__field(graph: ACCOUNTS) @authenticated @requiresScopes(scopes: [["profile:read"]]) @tag(name: "private")',
    )
    sdl += """
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
"""
    sg = Supergraph(sdl)
    meta = sg.types["Query"].fields["whoami"].directives
    assert meta == {
        "authenticated": True,
        "requiresScopes": {"scopes": [["profile:read"]]},
        "tag": ["private"],
    }
    api = print_schema(sg.api_schema)
    assert "whoami: String\n" in api
    assert "@authenticated" not in api
    assert "@requiresScopes" not in api


def test_not_a_supergraph_is_refused() -> None:
    with pytest.raises(SupergraphError):
        Supergraph("type Query { a: Int }")
    with pytest.raises(SupergraphError):
        Supergraph("type Query {")
