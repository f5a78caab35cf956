"""Hand-written subgraph SDLs used by the composition tests."""

from __future__ import annotations

from gateway.composition import SubgraphSource

FED = "https://specs.apollo.dev/federation"


def link(version: str, *imports: str) -> str:
    names = ", ".join(f'"{name}"' for name in imports)
    return f'extend schema @link(url: "{FED}/{version}", import: [{names}])\n'


def sources(sdls: dict[str, str], base: str = "http://127.0.0.1:4100") -> list[SubgraphSource]:
    return [SubgraphSource(name, f"{base}/{name}", sdl) for name, sdl in sdls.items()]


# A shop in four subgraphs with the shape of the gateway benchmark's schema: entity jumps
# across all four, a @requires on two external fields and a @provides.
_SHOP_LINK = link("v2.3", "@key", "@shareable", "@external", "@requires", "@provides")
SHOP = {
    "accounts": _SHOP_LINK
    + """
type Query {
  me: User
  user(id: ID!): User
  users: [User]
}

type User @key(fields: "id") {
  id: ID!
  name: String
  username: String @shareable
  birthday: Int
}
""",
    "inventory": _SHOP_LINK
    + """
type Product @key(fields: "upc") {
  upc: String!
  weight: Int @external
  price: Int @external
  inStock: Boolean
  shippingEstimate: Int @requires(fields: "price weight")
}
""",
    "products": _SHOP_LINK
    + """
type Query {
  topProducts(first: Int = 5): [Product]
}

type Product @key(fields: "upc") {
  upc: String!
  name: String
  price: Int
  weight: Int
}
""",
    "reviews": _SHOP_LINK
    + """
type Review @key(fields: "id") {
  id: ID!
  body: String
  product: Product
  author: User @provides(fields: "username")
}

type User @key(fields: "id") {
  id: ID!
  username: String @external
  reviews: [Review]
}

type Product @key(fields: "upc") {
  upc: String!
  reviews: [Review]
}
""",
}
SHOP_URL = "http://127.0.0.1:4200"


def shop_sources() -> list[SubgraphSource]:
    return [SubgraphSource(name, f"{SHOP_URL}/{name}", sdl) for name, sdl in SHOP.items()]


# Three subgraphs exercising most Federation v2 features at once.
_DIASPORA_A = link(
    "v2.9",
    "@key",
    "@shareable",
    "@inaccessible",
    "@tag",
    "@authenticated",
    "@requiresScopes",
    "@policy",
    "@cost",
    "@listSize",
    "@composeDirective",
)
DIASPORA = {
    "members": _DIASPORA_A
    + '''
  @link(url: "https://kopano.example/audit/v1.0", import: ["@audited"])
  @composeDirective(name: "@audited")

directive @audited(reason: String) on FIELD_DEFINITION | OBJECT

"The root of all reads"
type Query {
  "One member by id"
  member(id: ID!): Member @cost(weight: 5)
  members(first: Int = 10, status: Status): [Member!]!
    @listSize(assumedSize: 50, slicingArguments: ["first"], requireOneSlicingArgument: false)
    @authenticated
  search(filter: SearchFilter!): [SearchResult!]! @tag(name: "public") @shareable
  auditLog: [String!] @inaccessible @requiresScopes(scopes: [["audit:read"], ["admin"]])
  node(id: ID!): Node
}

type Mutation {
  suspend(id: ID!, status: Status!): Member @policy(policies: [["moderator"]])
}

interface Node {
  id: ID!
}

"""A member of the diaspora"""
type Member implements Node @key(fields: "id") @key(fields: "email", resolvable: false)
  @tag(name: "public") @audited(reason: "personal data") {
  id: ID!
  email: String! @inaccessible
  name: String @shareable
  status: Status
  organisation: Organisation
}

type Organisation @key(fields: "id") {
  id: ID!
  name: String! @shareable
  members: [Member!]! @deprecated(reason: "use memberships")
}

enum Status {
  ACTIVE
  SUSPENDED @inaccessible
  ERASED
}

input SearchFilter {
  text: String!
  limit: Int = 20
  country: String
}

union SearchResult = Member | Organisation

scalar DateTime @specifiedBy(url: "https://tools.ietf.org/html/rfc3339")

type Place @shareable {
  city: String
  country: String!
}
''',
    "content": link(
        "v2.9",
        "@key",
        "@shareable",
        "@external",
        "@requires",
        "@provides",
        "@override",
        "@interfaceObject",
    )
    + """
type Query {
  posts(after: DateTime): [Post!]!
  search(filter: SearchFilter!): [SearchResult!]! @shareable
}

scalar DateTime

type Post implements Node @key(fields: "id") {
  id: ID!
  title: String!
  author: Member @provides(fields: "name")
  createdAt: DateTime
  place: Place
}

interface Node {
  id: ID!
}

type Member @key(fields: "id") {
  id: ID!
  name: String @external
  status: Status @external
  posts: [Post!]! @requires(fields: "status")
  organisation: Organisation @override(from: "members", label: "percent(25)")
}

type Organisation @key(fields: "id", resolvable: false) {
  id: ID!
}

enum Status {
  ACTIVE
  SUSPENDED
  ERASED
}

input SearchFilter {
  text: String!
  limit: Int = 20
  tag: String
}

union SearchResult = Post | Member

type Place @shareable {
  city: String
  country: String!
}

type Feed @interfaceObject @key(fields: "id") {
  id: ID!
  score: Int
}
""",
    "opportunities": link("v2.9", "@key", "@shareable", "@override")
    + """
interface Feed @key(fields: "id") {
  id: ID!
}

type JobFeed implements Feed @key(fields: "id") {
  id: ID!
  title: String
}

type Query {
  feeds: [Feed!]!
}

type Organisation @key(fields: "id") {
  id: ID!
  name: String! @shareable
  budget: Int
}
""",
}


def without_access_control(sdls: dict[str, str]) -> dict[str, str]:
    """The same subgraphs minus @authenticated/@requiresScopes/@policy (which Apollo Gateway
    refuses to load)."""
    import re

    patterns = (
        r"\s*@authenticated\b",
        r"\s*@requiresScopes\(scopes: \[(?:\[[^\]]*\](?:, )?)*\]\)",
        r"\s*@policy\(policies: \[(?:\[[^\]]*\](?:, )?)*\]\)",
    )
    out: dict[str, str] = {}
    for name, sdl in sdls.items():
        for pattern in patterns:
            sdl = re.sub(pattern, "", sdl)
        out[name] = sdl
    return out
