"""Two strawberry subgraphs for @interfaceObject, entity interfaces, @override and
non-resolvable keys.

media    interface Node @key(id) with Book and Film; Book.author: Author @key(id);
         Book.copies: Copy @key("bookId branch { code }") with value(currency); Query.nodes;
         shareable Branch { code city } and Query.branches
ratings  type Node @key(id) @interfaceObject { rating }; Author.name @override(from: "media");
         Copy.insured @requires(value(currency: "LSL")); shareable Branch { code } and
         Query.branches; Query.topRated (Node values known only as the interface object)
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


@strawberry.federation.type(shareable=True)
class Branch:
    code: str
    city: str


BRANCHES = [Branch(code="MSU", city="Maseru"), Branch(code="JHB", city="Johannesburg")]


@strawberry.federation.type(keys=["bookId branch { code }"])
class Copy:
    book_id: strawberry.ID
    branch: Branch
    shelf: str

    @strawberry.field
    def value(self, currency: str) -> int:
        # The same copy is worth 150 maloti or 8 pounds.
        return 150 if currency == "LSL" else 8

    @classmethod
    def resolve_reference(cls, **data: Any) -> Copy:
        code = data["branch"]["code"]
        branch = next(b for b in BRANCHES if b.code == code)
        return Copy(book_id=strawberry.ID(data["bookId"]), branch=branch, shelf="A1")


@strawberry.federation.type(keys=["id"])
class Book(Node):
    title: str

    @strawberry.field
    def author(self) -> Author:
        return Author(id=strawberry.ID("a1"))

    @strawberry.field
    def copies(self) -> list[Copy]:
        return [
            Copy(book_id=self.id, branch=b, shelf=f"{b.code}-{i}")
            for i, b in enumerate(BRANCHES, start=1)
        ]


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

    @strawberry.federation.field(shareable=True)
    def branches(self) -> list[Branch]:
        return BRANCHES


media_schema = strawberry.federation.Schema(query=MediaQuery, types=[Book, Film, Author, Copy])


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


@strawberry.federation.type(name="Branch", shareable=True)
class RatingsBranch:
    code: str


@strawberry.federation.type(name="Copy", keys=["bookId branch { code }"])
class RatingsCopy:
    book_id: strawberry.ID
    branch: RatingsBranch
    value_lsl: strawberry.Private[int | None]

    @strawberry.federation.field(external=True)
    def value(self, currency: str) -> int:  # provided by media through @requires
        return self.value_lsl or 0

    @strawberry.federation.field(requires=['value(currency: "LSL")'])
    def insured(self) -> bool:
        return self.value_lsl is not None and self.value_lsl >= 100

    @classmethod
    def resolve_reference(cls, **data: Any) -> RatingsCopy:
        return RatingsCopy(
            book_id=strawberry.ID(data["bookId"]),
            branch=RatingsBranch(code=data["branch"]["code"]),
            value_lsl=data.get("value"),
        )


@strawberry.type
class RatingsQuery:
    @strawberry.field
    def top_rated(self) -> list[RatedNode]:
        return [RatedNode(id=strawberry.ID(k)) for k in sorted(RATINGS, key=lambda k: -RATINGS[k])]

    @strawberry.federation.field(shareable=True)
    def branches(self) -> list[RatingsBranch]:
        return [RatingsBranch(code="MSU"), RatingsBranch(code="JHB")]


ratings_schema = strawberry.federation.Schema(
    query=RatingsQuery, types=[RatedNode, RatingsAuthor, RatingsCopy]
)


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
  copies: [Copy!]!
  rating: Int! @join__field
}

type Branch
  @join__type(graph: MEDIA)
  @join__type(graph: RATINGS)
{
  code: String!
  city: String! @join__field(graph: MEDIA)
}

type Copy
  @join__type(graph: MEDIA, key: "bookId branch { code }")
  @join__type(graph: RATINGS, key: "bookId branch { code }")
{
  bookId: ID!
  branch: Branch!
  shelf: String! @join__field(graph: MEDIA)
  value(currency: String!): Int! @join__field(graph: MEDIA) @join__field(graph: RATINGS, external: true)
  insured: Boolean! @join__field(graph: RATINGS, requires: "value(currency: \\"LSL\\")")
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
  branches: [Branch!]!
}
"""


def supergraph_sdl(urls: dict[str, str]) -> str:
    out = SUPERGRAPH_TEMPLATE
    for name, url in urls.items():
        out = out.replace("{" + name + "}", url)
    return out
