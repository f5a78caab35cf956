"""Two strawberry subgraphs for @interfaceObject, entity interfaces, @override and
non-resolvable keys.

media    interface Node @key(id) with Book and Film; Book.author: Author @key(id);
         Query.nodes
ratings  type Node @key(id) @interfaceObject { rating }; Author.name @override(from: "media");
         Query.topRated (Node values known only as the interface object)
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.asgi import GraphQL

TITLES = {"b1": "Mafube", "b2": "Chaka", "f1": "This Is Not a Burial"}
RATINGS = {"b1": 5, "b2": 4, "f1": 3}


@strawberry.federation.interface(keys=["id"])
class Node:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Node | None:
        return _node(str(id))


@strawberry.federation.type(keys=["id"])
class Author:
    id: strawberry.ID

    @strawberry.field
    def name(self) -> str:
        return "media-name"  # overridden: the gateway must ask `ratings`

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Author:
        return Author(id=id)


@strawberry.federation.type(keys=["id"])
class Book(Node):
    title: str

    @strawberry.field
    def author(self) -> Author:
        return Author(id=strawberry.ID("a1"))


@strawberry.federation.type(keys=["id"])
class Film(Node):
    title: str


def _node(nid: str) -> Node | None:
    if nid.startswith("b") and nid in TITLES:
        return Book(id=strawberry.ID(nid), title=TITLES[nid])
    if nid.startswith("f") and nid in TITLES:
        return Film(id=strawberry.ID(nid), title=TITLES[nid])
    return None


@strawberry.type
class MediaQuery:
    @strawberry.field
    def nodes(self) -> list[Node]:
        return [n for n in (_node(k) for k in TITLES) if n is not None]


media_schema = strawberry.federation.Schema(query=MediaQuery, types=[Book, Film, Author])


@strawberry.federation.interface_object(name="Node", keys=["id"])
class RatedNode:
    id: strawberry.ID

    @strawberry.field
    def rating(self) -> int:
        return RATINGS[str(self.id)]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> RatedNode:
        return RatedNode(id=id)


@strawberry.federation.type(name="Author", keys=["id"])
class RatingsAuthor:
    id: strawberry.ID

    @strawberry.federation.field(override="media")
    def name(self) -> str:
        return "Thomas Mofolo"

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> RatingsAuthor:
        return RatingsAuthor(id=id)


@strawberry.type
class RatingsQuery:
    @strawberry.field
    def top_rated(self) -> list[RatedNode]:
        return [RatedNode(id=strawberry.ID(k)) for k in sorted(RATINGS, key=lambda k: -RATINGS[k])]


ratings_schema = strawberry.federation.Schema(query=RatingsQuery, types=[RatedNode, RatingsAuthor])


def apps() -> dict[str, Any]:
    return {"media": GraphQL(media_schema), "ratings": GraphQL(ratings_schema)}


SUPERGRAPH_TEMPLATE = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
{
  query: Query
}

directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE
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
  MEDIA @join__graph(name: "media", url: "{media}")
  RATINGS @join__graph(name: "ratings", url: "{ratings}")
}

type Author
  @join__type(graph: MEDIA, key: "id")
  @join__type(graph: RATINGS, key: "id")
{
  id: ID!
  name: String! @join__field(graph: RATINGS, override: "media")
}

type Book implements Node
  @join__implements(graph: MEDIA, interface: "Node")
  @join__type(graph: MEDIA, key: "id")
{
  id: ID!
  title: String!
  author: Author!
  rating: Int! @join__field
}

type Film implements Node
  @join__implements(graph: MEDIA, interface: "Node")
  @join__type(graph: MEDIA, key: "id")
{
  id: ID!
  title: String!
  rating: Int! @join__field
}

interface Node
  @join__type(graph: MEDIA, key: "id")
  @join__type(graph: RATINGS, key: "id", isInterfaceObject: true)
{
  id: ID!
  rating: Int! @join__field(graph: RATINGS)
}

type Query
  @join__type(graph: MEDIA)
  @join__type(graph: RATINGS)
{
  nodes: [Node!]! @join__field(graph: MEDIA)
  topRated: [Node!]! @join__field(graph: RATINGS)
}
"""


def supergraph_sdl(urls: dict[str, str]) -> str:
    out = SUPERGRAPH_TEMPLATE
    for name, url in urls.items():
        out = out.replace("{" + name + "}", url)
    return out
