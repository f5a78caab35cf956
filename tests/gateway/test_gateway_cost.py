"""Cost analysis (IBM GraphQL cost directives) through the gateway: every rule is checked at
its boundary: the operation is served with `--max-cost` equal to its cost, and refused with
`QUERY_TOO_COMPLEX` and no subgraph call when the maximum is one less.

One subgraph (`catalog`, graphql-core over plain data) serves a schema with connections,
an interface, a union, weighted scalars, enums, arguments and input fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from graphql import build_schema, graphql
from gw_hardening import DIRECTIVES
from gw_stack import start_server

from gateway.app import GatewayApp
from gateway.executor import Gateway
from gateway.supergraph import Supergraph

TYPES = """
interface Node {
  id: ID!
  score: Int
}

type Item implements Node @cost(weight: 2) {
  id: ID!
  name: String!
  rating: Int @cost(weight: 3)
  score: Int @cost(weight: 6)
}

type Tag implements Node {
  id: ID!
  label: String!
  popularity: Int @cost(weight: 4)
  score: Int
}

union Hit = Item | Tag

type ItemEdge {
  cursor: String!
  node: Item!
}

type ItemConnection {
  total: Int!
  edges: [ItemEdge!]!
  nodes: [Item!]!
}

scalar Money @cost(weight: "4.0")

enum Sort @cost(weight: 2) {
  NAME
  PRICE
}

input ItemFilter {
  tag: String
  fuzzy: Boolean @cost(weight: 3)
  near: ItemFilter
}

type Query {
  items(first: Int, last: Int): ItemConnection!
    @listSize(slicingArguments: ["first", "last"], sizedFields: ["edges", "nodes"])
  tags(limit: Int): [Tag!]!
    @listSize(slicingArguments: ["limit"], requireOneSlicingArgument: false, assumedSize: 5)
  pages(page: PageInput = {size: 4}): [Tag!]! @listSize(slicingArguments: ["page.size"])
  hits: [Hit!]! @listSize(assumedSize: 2)
  nodes: [Node!]! @listSize(assumedSize: 2)
  price(sort: Sort): Money
  discount(sort: Sort = PRICE): Money
  search(
    query: String! @cost(weight: 5)
    filter: ItemFilter
    ids: [ID!] @cost(weight: 2)
    approx: Boolean @cost(weight: -10)
  ): [Item!]! @listSize(assumedSize: 1)
}

input PageInput {
  size: Int
}

type Mutation {
  tag(input: ItemFilter!): Int!
}
"""

LINKS = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
{
  query: Query
  mutation: Mutation
}

directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA

scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }

enum join__Graph {
  CATALOG @join__graph(name: "catalog", url: "{url}")
}
"""


def supergraph(url: str) -> str:
    """TYPES as a one-subgraph supergraph: every type joined to CATALOG."""
    joined = []
    for line in TYPES.splitlines():
        if line.startswith(("type ", "interface ", "union ", "input ", "enum ", "scalar ")):
            cut = next((line.index(sep) for sep in (" {", " =") if sep in line), len(line))
            line = line[:cut] + " @join__type(graph: CATALOG)" + line[cut:]
        joined.append(line)
    return LINKS.replace("{url}", url) + str(DIRECTIVES) + "\n".join(joined)


ITEM = {"__typename": "Item", "id": "i1", "name": "Lamp", "rating": 4, "score": 9}
TAG = {"__typename": "Tag", "id": "t1", "label": "home", "popularity": 7, "score": 1}


def _items(info: Any, first: int | None = None, last: int | None = None) -> Any:
    n = first or last or 0
    return {
        "total": 3,
        "edges": [{"cursor": f"c{i}", "node": ITEM} for i in range(min(n, 3))],
        "nodes": [ITEM] * min(n, 3),
    }


ROOT: dict[str, Any] = {
    "items": _items,
    "tags": lambda info, limit=None: [TAG],
    "pages": lambda info, page=None: [TAG],
    "hits": [ITEM, TAG],
    "nodes": [ITEM, TAG],
    "price": lambda info, sort=None: 5,
    "discount": lambda info, sort=None: 4,
    "search": lambda info, **args: [ITEM],
    "tag": lambda info, input: 1,
}


def catalog_app(calls: list[bytes]) -> Any:
    schema = build_schema(DIRECTIVES + TYPES, assume_valid_sdl=True)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        calls.append(body)
        req = orjson.loads(body)
        res = await graphql(
            schema, req["query"], root_value=ROOT, variable_values=req.get("variables")
        )
        out: dict[str, Any] = {"data": res.data}
        if res.errors:
            out["errors"] = [e.formatted for e in res.errors]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(out)})

    return app


@dataclass
class Catalog:
    sdl: str
    calls: list[bytes]
    app: GatewayApp
    url: str
    client: httpx.AsyncClient

    def use(self, max_cost: int, mode: str = "enforce") -> None:
        self.app.gateway = Gateway(
            Supergraph(self.sdl), dedup=False, limits={"cost": max_cost}, limits_mode=mode
        )

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.client.post(self.url, json=body)


@pytest.fixture(scope="module")
async def catalog() -> AsyncIterator[Catalog]:
    calls: list[bytes] = []
    sub, sub_task, sub_port = await start_server(catalog_app(calls))
    sdl = supergraph(f"http://127.0.0.1:{sub_port}/graphql")
    app = GatewayApp(Gateway(Supergraph(sdl), dedup=False))
    gw, gw_task, gw_port = await start_server(app)
    async with httpx.AsyncClient(timeout=10) as client:
        yield Catalog(sdl, calls, app, f"http://127.0.0.1:{gw_port}/graphql", client)
    for server, task in ((gw, gw_task), (sub, sub_task)):
        server.should_exit = True
        await task


async def assert_boundary(
    catalog: Catalog, cost: int, query: str, variables: dict[str, Any] | None = None
) -> None:
    """Served at `--max-cost cost`; refused at `cost - 1` without a subgraph call."""
    catalog.use(cost)
    r = await catalog.post(query, variables)
    assert r.status_code == 200, r.text
    assert "errors" not in r.json(), r.text
    assert r.json()["data"]
    catalog.calls.clear()
    catalog.use(cost - 1)
    r = await catalog.post(query, variables)
    assert r.status_code == 400, r.text
    (err,) = r.json()["errors"]
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert err["message"] == f"Query cost {cost} exceeds the maximum of {cost - 1}."
    assert catalog.calls == []


# (rule, query, variables, cost)
CASES: list[tuple[str, str, dict[str, Any] | None, int]] = [
    # @cost on a scalar type (IBM string weight "4.0")
    ("scalar type weight", "{ price }", None, 4),
    # @cost on an enum type, counted for an argument of that enum
    ("enum argument", "{ price(sort: NAME) }", None, 4 + 2),
    # an argument left out counts with its schema default (discount(sort: Sort = PRICE))
    ("argument default", "{ discount }", None, 4 + 2),
    # @cost on an argument: 1 Item (weight 2) + query (5)
    ("argument weight", '{ search(query: "x") { id } }', None, 2 + 5),
    # input objects weigh 1 each, plus their fields' weights (fuzzy 3), nested
    (
        "nested input object",
        '{ search(query: "x", filter: {tag: "a", near: {fuzzy: true}}) { id } }',
        None,
        7 + 1 + (1 + 3),
    ),
    # the same from a variable
    (
        "input object variable",
        'query($f: ItemFilter) { search(query: "x", filter: $f) { id } }',
        {"f": {"fuzzy": True, "near": {"tag": "b"}}},
        7 + (1 + 3 + 1),
    ),
    # a list argument: its weight per item
    ("list argument", '{ search(query: "x", ids: ["a", "b", "c"]) { id } }', None, 7 + 3 * 2),
    # a negative argument weight lowers the field's own cost, never below zero:
    # max(0, 2 + 5 - 10) + rating 3
    ("negative weight", '{ search(query: "x", approx: true) { id rating } }', None, 3),
    # an input object argument of a mutation field, plus 10 per mutation root field
    ("mutation input", "mutation { tag(input: {fuzzy: true}) }", None, 10 + 1 + 3),
    # sizedFields: the connection itself counts once, its edges `first` times:
    # 1 + 3 x (edge 1 + node Item 2)
    ("sized edges", "{ items(first: 3) { total edges { cursor node { id } } } }", None, 1 + 9),
    # ... and nodes too: 1 + 4 x (Item 2 + rating 3)
    ("sized nodes", "{ items(last: 4) { nodes { rating } } }", None, 1 + 4 * 5),
    # slicing argument from a variable
    (
        "slicing variable",
        "query($n: Int) { items(first: $n) { nodes { id } } }",
        {"n": 6},
        1 + 6 * 2,
    ),
    # requireOneSlicingArgument: false, none given: assumedSize 5 x Tag 1
    ("assumed size", "{ tags { id } }", None, 5),
    ("slicing argument", "{ tags(limit: 7) { id } }", None, 7),
    # a slicing argument inside an input object, from the argument's default {size: 4};
    # the input object itself weighs 1
    ("nested slicing default", "{ pages { id } }", None, 4 + 1),
    ("nested slicing argument", "{ pages(page: {size: 9}) { id } }", None, 9 + 1),
    # a union weighs as its heaviest member (Item 2): 2 hits x 2
    ("union weight", "{ hits { __typename } }", None, 2 * 2),
    # fragments on different members: the dearer one (Tag.popularity 4), not the sum (7)
    (
        "union fragments",
        "{ hits { ... on Item { rating } ... on Tag { popularity } } }",
        None,
        2 * (2 + 4),
    ),
    # named fragments on an interface, with a field for every type
    (
        "interface fragments",
        "{ nodes { id ...I ...T } } fragment I on Item { rating } fragment T on Tag { popularity }",
        None,
        2 * (2 + 4),
    ),
    # nested conditions intersect: Item gets rating + name, Tag nothing
    (
        "nested conditions",
        "{ hits { ... on Node { ... on Item { rating } } ... on Item { name } } }",
        None,
        2 * (2 + 3),
    ),
    # an interface field weighs as its heaviest implementation (Item.score 6)
    ("interface field", "{ nodes { score } }", None, 2 * (2 + 6)),
    # fields and fragments skipped literally are not executed, so not counted; a condition
    # from a variable counts as included
    (
        "skip and include",
        "query($no: Boolean = false) { price discount @skip(if: true)"
        " hits @include(if: false) { __typename } ... @skip(if: true) { nodes { id } }"
        ' search(query: "x") @include(if: $no) { id } }',
        None,
        4 + 7,
    ),
]


@pytest.mark.parametrize(("rule", "query", "variables", "cost"), CASES, ids=[c[0] for c in CASES])
async def test_cost_rule_at_its_boundary(
    catalog: Catalog, rule: str, query: str, variables: dict[str, Any] | None, cost: int
) -> None:
    await assert_boundary(catalog, cost, query, variables)


async def test_cost_follows_variables_of_a_cached_document(catalog: Catalog) -> None:
    q = 'query($f: ItemFilter) { search(query: "x", filter: $f) { id } }'
    catalog.use(11)
    r = await catalog.post(q, {"f": {"fuzzy": True}})  # 7 + 1 + 3
    assert "errors" not in r.json()
    catalog.calls.clear()
    r = await catalog.post(q, {"f": {"fuzzy": True, "near": {}}})  # + 1
    assert r.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert catalog.calls == []


async def test_deeply_nested_variables_are_refused_not_crashed_on(catalog: Catalog) -> None:
    q = 'query($f: ItemFilter) { search(query: "x", filter: $f) { id } }'
    # 1000 levels: deeper than the interpreter's stack, within what orjson reads
    nested = '{"near":' * 1000 + '{"tag":"a"}' + "}" * 1000
    body = '{"query":' + orjson.dumps(q).decode() + ',"variables":{"f":' + nested + "}}"
    catalog.use(10_000)
    catalog.calls.clear()
    r = await catalog.client.post(
        catalog.url, content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert catalog.calls == []


@pytest.mark.parametrize(
    ("query", "given"),
    [("{ items { total } }", 0), ("{ items(first: 1, last: 1) { total } }", 2)],
)
async def test_require_one_slicing_argument(catalog: Catalog, query: str, given: int) -> None:
    catalog.use(1000)
    r = await catalog.post("{ items(first: 1) { total } }")
    assert r.json() == {"data": {"items": {"total": 3}}}
    catalog.calls.clear()
    r = await catalog.post(query)
    assert r.status_code == 400
    (err,) = r.json()["errors"]
    assert err["extensions"]["code"] == "INVALID_SLICING_ARGUMENTS"
    assert err["message"] == (
        f"Query.items needs exactly one of the slicing arguments first, last; {given} given."
    )
    assert catalog.calls == []


async def test_measure_mode_serves_what_cost_analysis_would_refuse(catalog: Catalog) -> None:
    catalog.use(1, mode="measure")
    r = await catalog.post("{ items { total } }")  # no slicing argument, and over the cost
    assert r.json() == {"data": {"items": {"total": 3}}}
    r = await catalog.post("{ hits { ... on Tag { popularity } } }")
    assert r.status_code == 200
    assert "errors" not in r.json()
    metrics = (await catalog.client.get(catalog.url.replace("/graphql", "/metrics"))).text
    for code in ("INVALID_SLICING_ARGUMENTS", "QUERY_TOO_COMPLEX"):
        assert f'gateway_limit_rejections_total{{code="{code}",mode="measure"}}' in metrics
