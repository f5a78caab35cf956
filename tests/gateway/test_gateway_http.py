"""The gateway over HTTP in front of four strawberry subgraphs: exact responses."""

from __future__ import annotations

from gw_stack import Stack
from gw_subgraphs import COUNTER, SEEN


async def test_single_fetch(stack: Stack) -> None:
    got = await stack.query("{ users { id name } }")
    assert got == {
        "data": {
            "users": [{"id": "1", "name": "Thabo Mokoena"}, {"id": "2", "name": "Lineo Letsie"}]
        }
    }


async def test_entity_jumps_requires_and_provides(stack: Stack) -> None:
    got = await stack.query(
        """
        query Top {
          topProducts {
            upc name shippingEstimate inStock
            reviews { body author { username name } }
          }
        }
        """
    )
    assert got == {
        "data": {
            "topProducts": [
                {
                    "upc": "p1",
                    "name": "Seshoeshoe",
                    "shippingEstimate": 21,
                    "inStock": True,
                    "reviews": [
                        {
                            "body": "Beautiful",
                            "author": {"username": "thabo", "name": "Thabo Mokoena"},
                        }
                    ],
                },
                {
                    "upc": "p2",
                    "name": "Basotho blanket",
                    "shippingEstimate": 59,
                    "inStock": False,
                    "reviews": [
                        {"body": "Warm", "author": {"username": "lineo", "name": "Lineo Letsie"}},
                        {
                            "body": "Classic",
                            "author": {"username": "thabo", "name": "Thabo Mokoena"},
                        },
                    ],
                },
            ]
        }
    }


async def test_provides_avoids_entity_fetch(stack: Stack) -> None:
    plan = await stack.client.post(
        stack.url + "/graphql",
        json={"query": "{ latestReviews { author { username } } }"},
        headers={"X-Kopano-Explain": "plan"},
    )
    fetches = plan.json()["plan"]["fetches"]
    assert [f["subgraph"] for f in fetches] == ["REVIEWS"]
    got = await stack.query("{ latestReviews { author { username } } }")
    assert got["data"]["latestReviews"][1] == {"author": {"username": "lineo"}}


async def test_entity_representations_are_deduplicated(stack: Stack) -> None:
    SEEN["accounts"].clear()
    got = await stack.query("{ latestReviews { author { name } } }")
    assert [r["author"]["name"] for r in got["data"]["latestReviews"]] == [
        "Thabo Mokoena",
        "Lineo Letsie",
        "Thabo Mokoena",
    ]
    # One batched _entities call resolving two distinct users, not three.
    assert len(SEEN["accounts"]) == 2


async def test_aliases_fragments_typename(stack: Stack) -> None:
    got = await stack.query(
        """
        query {
          first: topProducts(first: 1) { ...P kind: __typename }
          __typename
        }
        fragment P on Product { code: upc ... on Product { inStock } }
        """
    )
    assert got == {
        "data": {
            "first": [{"code": "p1", "inStock": True, "kind": "Product"}],
            "__typename": "Query",
        }
    }


async def test_union_and_interface(stack: Stack) -> None:
    got = await stack.query(
        """
        {
          search { __typename ... on Product { upc inStock } ... on Category { name } }
          account(id: "2") { id ... on User { username } }
        }
        """
    )
    assert got == {
        "data": {
            "search": [
                {"__typename": "Product", "upc": "p3", "inStock": True},
                {"__typename": "Category", "name": "Clothing"},
            ],
            "account": {"id": "2", "username": "lineo"},
        }
    }


async def test_skip_include_and_variable_defaults(stack: Stack) -> None:
    q = """
    query Q($withName: Boolean!, $n: Int = 1) {
      topProducts(first: $n) { upc name @include(if: $withName) inStock @skip(if: $withName) }
    }
    """
    got = await stack.query(q, {"withName": True})
    assert got == {"data": {"topProducts": [{"upc": "p1", "name": "Seshoeshoe"}]}}
    got = await stack.query(q, {"withName": False, "n": 2})
    assert got == {
        "data": {"topProducts": [{"upc": "p1", "inStock": True}, {"upc": "p2", "inStock": False}]}
    }


async def test_mutations_run_in_order_once_each(stack: Stack) -> None:
    COUNTER["value"] = 0
    got = await stack.query("mutation { a: bump(by: 2) b: double c: bump(by: 1) d: double }")
    assert got == {"data": {"a": 2, "b": 4, "c": 5, "d": 10}}
    assert COUNTER["value"] == 10


async def test_authorization_is_forwarded_to_every_fetch(stack: Stack) -> None:
    for seen in SEEN.values():
        seen.clear()
    got = await stack.query(
        "{ whoami topProducts { shippingEstimate reviews { author { name } } } }",
        headers={"Authorization": "Bearer abc"},
    )
    assert got["data"]["whoami"] == "Bearer abc"
    for name in ("products", "inventory", "reviews", "accounts"):
        assert SEEN[name], name
        assert {s["authorization"] for s in SEEN[name]} == {"Bearer abc"}


async def test_subgraph_error_is_repathed_and_nulls_propagate(stack: Stack) -> None:
    got = await stack.query("{ failing users { id } }")
    assert got["data"] == {"failing": None, "users": [{"id": "1"}, {"id": "2"}]}
    assert got["errors"][0]["path"] == ["failing"]
    assert got["errors"][0]["extensions"]["serviceName"] == "accounts"

    # Review.broken is non-null: the error nulls the whole review, then the non-null list
    # item makes the nullable... list is non-null too, so data.topProducts[0].reviews -> null
    # would violate [Review!]!; the null climbs to the nearest nullable parent (data).
    got = await stack.query("{ topProducts(first: 1) { upc reviews { broken } } }")
    assert got["data"] is None
    assert got["errors"][0]["message"] == "review exploded"
    assert got["errors"][0]["path"] == ["topProducts", 0, "reviews", 0, "broken"]


async def test_inaccessible_field_is_not_in_the_api(stack: Stack) -> None:
    got = await stack.query("{ topProducts { secretCost } }")
    assert "data" not in got
    assert "secretCost" in got["errors"][0]["message"]


async def test_introspection_served_by_the_gateway(stack: Stack) -> None:
    got = await stack.query(
        '{ __type(name: "Product") { fields { name } } __schema { queryType { name } } }'
    )
    names = [f["name"] for f in got["data"]["__type"]["fields"]]
    assert names == ["upc", "price", "weight", "inStock", "shippingEstimate", "name", "reviews"]
    assert got["data"]["__schema"] == {"queryType": {"name": "Query"}}
    assert not any(n.startswith("join__") for n in names)


async def test_mixed_introspection_and_data(stack: Stack) -> None:
    got = await stack.query('{ warehouseName __type(name: "Review") { name } }')
    assert got == {"data": {"warehouseName": "Maseru", "__type": {"name": "Review"}}}


async def test_validation_and_syntax_errors(stack: Stack) -> None:
    r = await stack.client.post(stack.url + "/graphql", json={"query": "{ nope }"})
    assert r.status_code == 400
    assert "nope" in r.json()["errors"][0]["message"]
    r = await stack.client.post(stack.url + "/graphql", json={"query": "{ users { "})
    assert r.status_code == 400
    assert "Syntax Error" in r.json()["errors"][0]["message"]
    r = await stack.client.post(stack.url + "/graphql", content=b"not json")
    assert r.status_code == 400


async def test_get_queries_and_graphiql(stack: Stack) -> None:
    r = await stack.client.get(stack.url + "/graphql", params={"query": "{ warehouseName }"})
    assert r.json() == {"data": {"warehouseName": "Maseru"}}
    r = await stack.client.get(stack.url + "/graphql", params={"query": "mutation { double }"})
    assert r.status_code == 405
    r = await stack.client.get(stack.url + "/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200
    assert "graphiql" in r.text.lower()


async def test_plan_cache_is_reused(stack: Stack) -> None:
    q = "{ topProducts { upc inStock } }"
    await stack.query(q)
    doc = stack.gateway.documents[(q, None)]
    await stack.query(q)
    assert stack.gateway.documents[(q, None)] is doc


async def test_health_ready_metrics(stack: Stack) -> None:
    r = await stack.client.get(stack.url + "/healthz")
    assert r.json() == {"status": "ok"}
    r = await stack.client.get(stack.url + "/readyz")
    assert r.status_code == 200
    assert r.json()["subgraphs"] == {
        "accounts": "ok",
        "inventory": "ok",
        "products": "ok",
        "reviews": "ok",
    }
    r = await stack.client.get(stack.url + "/metrics")
    assert "gateway_requests_total" in r.text


async def test_request_id_is_echoed(stack: Stack) -> None:
    r = await stack.client.post(
        stack.url + "/graphql", json={"query": "{ warehouseName }"}, headers={"X-Request-Id": "r-1"}
    )
    assert r.headers["x-request-id"] == "r-1"


async def test_client_alias_named_like_a_key_field(stack: Stack) -> None:
    got = await stack.query(
        "{ topProducts(first: 1) { upc: name price: inStock shippingEstimate reviews { body } } }"
    )
    assert got == {
        "data": {
            "topProducts": [
                {
                    "upc": "Seshoeshoe",
                    "price": True,
                    "shippingEstimate": 21,
                    "reviews": [{"body": "Beautiful"}],
                }
            ]
        }
    }
