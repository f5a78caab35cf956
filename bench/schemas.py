"""The four federation subgraphs and the non-federated monolith, as executable graphql-core schemas.

The subgraph SDLs are what ``_service { sdl }`` returns and what composition reads; they compose
into ``bench/supergraph.graphql``. The monolith serves the same API with every resolver local and
is the oracle every gateway response is compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
)

from bench import data

Resolver = Callable[..., Any]

_LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
    'import: ["@key", "@shareable", "@external", "@requires", "@provides"])'
)

SUBGRAPH_SDL: dict[str, str] = {
    "accounts": f"""{_LINK}

type Query {{
  me: User
  user(id: ID!): User
  users: [User]
}}

type User @key(fields: "id") {{
  id: ID!
  name: String
  username: String @shareable
  birthday: Int
}}
""",
    "inventory": f"""{_LINK}

type Product @key(fields: "upc") {{
  upc: String!
  weight: Int @external
  price: Int @external
  inStock: Boolean
  shippingEstimate: Int @requires(fields: "price weight")
}}
""",
    "products": f"""{_LINK}

type Query {{
  topProducts(first: Int = 5): [Product]
}}

type Product @key(fields: "upc") {{
  upc: String!
  name: String
  price: Int
  weight: Int
}}
""",
    "reviews": f"""{_LINK}

type Review @key(fields: "id") {{
  id: ID!
  body: String
  product: Product
  author: User @provides(fields: "username")
}}

type User @key(fields: "id") {{
  id: ID!
  username: String @external
  reviews: [Review]
}}

type Product @key(fields: "upc") {{
  upc: String!
  reviews: [Review]
}}
""",
}

SUBGRAPH_NAMES: tuple[str, ...] = tuple(SUBGRAPH_SDL)

# Definitions a federation subgraph library adds so the SDL above can be built and served.
_FEDERATION_DEFS = """
directive @link(url: String!, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @requires(fields: FieldSet!) on FIELD_DEFINITION
directive @provides(fields: FieldSet!) on FIELD_DEFINITION
directive @external on OBJECT | FIELD_DEFINITION
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
scalar FieldSet
scalar _Any
type _Service { sdl: String }
"""

Row = dict[str, Any]


def _inventory_product(rep: Row) -> Row:
    # As the reference: inventory looks the product up in its own table (no price/weight there)
    # and ignores the representation's @requires fields.
    upc = rep.get("upc")
    return {"upc": upc, "inStock": data.IN_STOCK.get(str(upc)), "_own": (None, None)}


# __resolveReference per subgraph and entity type
_REFERENCE_RESOLVERS: dict[str, dict[str, Callable[[Row], Row | None]]] = {
    "accounts": {"User": lambda rep: data.user_by_id(rep.get("id"))},
    "inventory": {"Product": _inventory_product},
    "products": {"Product": lambda rep: data.product_by_upc(rep.get("upc"))},
    "reviews": {
        "Review": lambda rep: data.review_by_id(rep.get("id")),
        "User": lambda rep: {"id": rep.get("id")},
        "Product": lambda rep: {"upc": rep.get("upc")},
    },
}

# field resolvers (type -> field -> resolver(source, info, **args)); other fields read the dict key
_FIELD_RESOLVERS: dict[str, dict[str, dict[str, Resolver]]] = {
    "accounts": {
        "Query": {
            "me": lambda _s, _i: data.USERS[0],
            "user": lambda _s, _i, id: data.user_by_id(id),
            "users": lambda _s, _i: data.USERS,
        }
    },
    "inventory": {
        "Product": {"shippingEstimate": lambda p, _i: data.shipping_estimate(*p["_own"])},
    },
    "products": {
        "Query": {"topProducts": lambda _s, _i, first=None: data.top_products(first)},
    },
    "reviews": {
        "Review": {"author": lambda _s, _i: data.review_author()},
        "User": {"reviews": lambda _s, _i: data.user_reviews()},
        "Product": {"reviews": lambda p, _i: data.reviews_for_upc(p["upc"])},
    },
}


def _attach(schema: GraphQLSchema, resolvers: dict[str, dict[str, Resolver]]) -> None:
    for type_name, fields in resolvers.items():
        gql_type = schema.get_type(type_name)
        assert isinstance(gql_type, GraphQLObjectType), type_name
        for field_name, fn in fields.items():
            gql_type.fields[field_name].resolve = fn


def build_subgraph_schema(name: str) -> GraphQLSchema:
    """Build subgraph ``name`` with ``_service`` and ``_entities`` as a federation library would."""
    sdl = SUBGRAPH_SDL[name]
    references = _REFERENCE_RESOLVERS[name]
    has_query = "type Query" in sdl
    extra = [
        _FEDERATION_DEFS,
        f"union _Entity = {' | '.join(references)}",
        ("extend type Query" if has_query else "type Query")
        + " { _entities(representations: [_Any!]!): [_Entity]! _service: _Service! }",
    ]
    schema = build_schema(sdl + "\n".join(extra))

    def resolve_entities(_s: object, _i: Any, representations: list[Row]) -> list[Any]:
        out: list[Any] = []
        for rep in representations:
            typename = rep.get("__typename")
            resolve = references.get(typename) if isinstance(typename, str) else None
            obj = resolve(rep) if resolve else None
            out.append(None if obj is None else {**obj, "__typename": typename})
        return out

    _attach(
        schema,
        {
            **_FIELD_RESOLVERS[name],
            "Query": {
                **_FIELD_RESOLVERS[name].get("Query", {}),
                "_entities": resolve_entities,
                "_service": lambda _s, _i: {"sdl": sdl},
            },
        },
    )
    entity = schema.get_type("_Entity")
    assert isinstance(entity, GraphQLUnionType)
    entity.resolve_type = lambda obj, _info, _type: obj["__typename"]
    return schema


MONOLITH_SDL = """
type Query {
  me: User
  user(id: ID!): User
  users: [User]
  topProducts(first: Int = 5): [Product]
}

type User {
  id: ID!
  name: String
  username: String
  birthday: Int
  reviews: [Review]
}

type Review {
  id: ID!
  body: String
  product: Product
  author: User
}

type Product {
  upc: String!
  name: String
  price: Int
  weight: Int
  inStock: Boolean
  shippingEstimate: Int
  reviews: [Review]
}
"""


def build_monolith_schema() -> GraphQLSchema:
    """The same API with every resolver local: no federation, used as the correctness oracle."""
    schema = build_schema(MONOLITH_SDL)
    _attach(
        schema,
        {
            "Query": {
                "me": lambda _s, _i: data.USERS[0],
                "user": lambda _s, _i, id: data.user_by_id(id),
                "users": lambda _s, _i: data.USERS,
                "topProducts": lambda _s, _i, first=None: data.top_products(first),
            },
            "User": {"reviews": lambda _s, _i: data.user_reviews()},
            "Review": {
                "product": lambda r, _i: data.product_by_upc(r["product"]["upc"]),
                "author": lambda _s, _i: data.user_by_id(data.review_author()["id"]),
            },
            "Product": {
                "inStock": lambda p, _i: data.IN_STOCK.get(p["upc"]),
                "shippingEstimate": lambda _p, _i: data.shipping_estimate(None, None),
                "reviews": lambda p, _i: data.reviews_for_upc(p["upc"]),
            },
        },
    )
    return schema


def build_all() -> dict[str, GraphQLSchema]:
    """Every schema the subgraph server serves, by route name."""
    schemas = {name: build_subgraph_schema(name) for name in SUBGRAPH_NAMES}
    schemas["monolith"] = build_monolith_schema()
    return schemas
