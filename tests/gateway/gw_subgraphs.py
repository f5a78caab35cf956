"""Small strawberry Federation v2 subgraphs exercising the gateway's planner features.

accounts   User @key(id) (name, username), Query.me/users/node, Mutation.bump, Account interface
products   Product @key(upc) (name, price, weight), Query.topProducts(first = 2), union SearchResult
inventory  Product.inStock, Product.shippingEstimate @requires(price weight)
reviews    Review @key(id), Review.author @provides(username), User.reviews, Product.reviews
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import strawberry
from strawberry.asgi import GraphQL
from strawberry.types import Info

USERS = {
    "1": {"id": "1", "name": "Thabo Mokoena", "username": "thabo"},
    "2": {"id": "2", "name": "Lineo Letsie", "username": "lineo"},
}
PRODUCTS: dict[str, dict[str, Any]] = {
    "p1": {"upc": "p1", "name": "Seshoeshoe", "price": 120, "weight": 2},
    "p2": {"upc": "p2", "name": "Basotho blanket", "price": 900, "weight": 5},
    "p3": {"upc": "p3", "name": "Mokorotlo", "price": 300, "weight": 1},
}
REVIEWS = {
    "r1": {"id": "r1", "body": "Beautiful", "author": "1", "product": "p1"},
    "r2": {"id": "r2", "body": "Warm", "author": "2", "product": "p2"},
    "r3": {"id": "r3", "body": "Classic", "author": "1", "product": "p2"},
}

# Records what each subgraph saw, so tests can assert forwarding and call counts.
SEEN: dict[str, list[dict[str, Any]]] = {
    "accounts": [],
    "products": [],
    "inventory": [],
    "reviews": [],
}
COUNTER = {"value": 0}


def _record(info: Info, name: str) -> None:
    request = info.context["request"]
    SEEN[name].append({"authorization": request.headers.get("authorization")})


# -- accounts ---------------------------------------------------------------------------


@strawberry.federation.interface(keys=["id"])
class Account:
    id: strawberry.ID


@strawberry.federation.type(keys=["id"])
class User(Account):
    name: str
    username: str

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID) -> User | None:
        _record(info, "accounts")
        u = USERS.get(str(id))
        return (
            User(id=strawberry.ID(u["id"]), name=u["name"], username=u["username"]) if u else None
        )


def _user(uid: str) -> User:
    u = USERS[uid]
    return User(id=strawberry.ID(u["id"]), name=u["name"], username=u["username"])


@strawberry.type
class AccountsQuery:
    @strawberry.field
    def me(self, info: Info) -> User:
        _record(info, "accounts")
        return _user("1")

    @strawberry.field
    def users(self, info: Info) -> list[User]:
        _record(info, "accounts")
        return [_user(k) for k in USERS]

    @strawberry.field
    def account(self, info: Info, id: strawberry.ID) -> Account | None:
        _record(info, "accounts")
        return _user(str(id)) if str(id) in USERS else None

    @strawberry.field
    def failing(self) -> str | None:
        raise ValueError("accounts exploded")

    @strawberry.field
    def whoami(self, info: Info) -> str | None:
        return cast("str | None", info.context["request"].headers.get("authorization"))


@strawberry.type
class AccountsMutation:
    @strawberry.mutation
    def bump(self, by: int) -> int:
        COUNTER["value"] += by
        return COUNTER["value"]

    @strawberry.mutation
    def double(self) -> int:
        COUNTER["value"] *= 2
        return COUNTER["value"]


accounts_schema = strawberry.federation.Schema(
    query=AccountsQuery, mutation=AccountsMutation, types=[User]
)

# -- products ---------------------------------------------------------------------------


@strawberry.federation.type(keys=["upc"])
class Product:
    upc: str
    name: str
    price: int
    weight: int

    @classmethod
    def resolve_reference(cls, info: Info, upc: str) -> Product | None:
        _record(info, "products")
        p = PRODUCTS.get(upc)
        return Product(**p) if p else None


@strawberry.type
class Category:
    name: str


SearchResult = Annotated[Product | Category, strawberry.union("SearchResult")]


@strawberry.type
class ProductsQuery:
    @strawberry.field
    def top_products(self, info: Info, first: int = 2) -> list[Product]:
        _record(info, "products")
        return [Product(**p) for p in list(PRODUCTS.values())[:first]]

    @strawberry.field
    def search(self) -> list[SearchResult]:
        return [Product(**PRODUCTS["p3"]), Category(name="Clothing")]


products_schema = strawberry.federation.Schema(query=ProductsQuery)

# -- inventory --------------------------------------------------------------------------


@strawberry.federation.type(name="Product", keys=["upc"])
class InventoryProduct:
    upc: str
    price: int = strawberry.federation.field(external=True)
    weight: int = strawberry.federation.field(external=True)

    @strawberry.field
    def in_stock(self) -> bool:
        return self.upc != "p2"

    @strawberry.federation.field(requires=["price weight"])
    def shipping_estimate(self) -> int:
        # Heavy or expensive items ship for more; needs both required fields.
        return self.price // 100 + self.weight * 10

    @classmethod
    def resolve_reference(
        cls, info: Info, upc: str, price: int | None = None, weight: int | None = None
    ) -> InventoryProduct:
        _record(info, "inventory")
        return InventoryProduct(upc=upc, price=price or 0, weight=weight or 0)


@strawberry.type
class InventoryQuery:
    @strawberry.field
    def warehouse_name(self) -> str:
        return "Maseru"


inventory_schema = strawberry.federation.Schema(query=InventoryQuery, types=[InventoryProduct])

# -- reviews ----------------------------------------------------------------------------


@strawberry.federation.type(name="User", keys=["id"])
class ReviewUser:
    id: strawberry.ID
    username: str = strawberry.federation.field(external=True)

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [_review(r) for r in REVIEWS.values() if r["author"] == str(self.id)]

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID) -> ReviewUser:
        _record(info, "reviews")
        return ReviewUser(id=id, username="")


@strawberry.federation.type(name="Product", keys=["upc"])
class ReviewProduct:
    upc: str

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [_review(r) for r in REVIEWS.values() if r["product"] == self.upc]

    @classmethod
    def resolve_reference(cls, info: Info, upc: str) -> ReviewProduct:
        _record(info, "reviews")
        return ReviewProduct(upc=upc)


@strawberry.federation.type(keys=["id"])
class Review:
    id: strawberry.ID
    body: str
    author_id: strawberry.Private[str]
    product_upc: strawberry.Private[str]

    @strawberry.federation.field(provides=["username"])
    def author(self) -> ReviewUser:
        return ReviewUser(
            id=strawberry.ID(self.author_id), username=USERS[self.author_id]["username"]
        )

    @strawberry.field
    def product(self) -> ReviewProduct:
        return ReviewProduct(upc=self.product_upc)

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("review exploded")

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID) -> Review | None:
        r = REVIEWS.get(str(id))
        return _review(r) if r else None


def _review(r: dict[str, str]) -> Review:
    return Review(
        id=strawberry.ID(r["id"]), body=r["body"], author_id=r["author"], product_upc=r["product"]
    )


@strawberry.type
class ReviewsQuery:
    @strawberry.field
    def latest_reviews(self, info: Info) -> list[Review]:
        _record(info, "reviews")
        return [_review(r) for r in REVIEWS.values()]


reviews_schema = strawberry.federation.Schema(
    query=ReviewsQuery, types=[ReviewUser, ReviewProduct, Review]
)


def apps() -> dict[str, Any]:
    return {
        "accounts": GraphQL(accounts_schema),
        "products": GraphQL(products_schema),
        "inventory": GraphQL(inventory_schema),
        "reviews": GraphQL(reviews_schema),
    }


SUPERGRAPH_TEMPLATE = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
{
  query: Query
  mutation: Mutation
}

directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION

scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }

enum join__Graph {
  ACCOUNTS @join__graph(name: "accounts", url: "{accounts}")
  INVENTORY @join__graph(name: "inventory", url: "{inventory}")
  PRODUCTS @join__graph(name: "products", url: "{products}")
  REVIEWS @join__graph(name: "reviews", url: "{reviews}")
}

interface Account @join__type(graph: ACCOUNTS, key: "id") {
  id: ID!
}

type Category @join__type(graph: PRODUCTS) {
  name: String!
}

type Mutation @join__type(graph: ACCOUNTS) {
  bump(by: Int!): Int! @join__field(graph: ACCOUNTS)
  double: Int! @join__field(graph: ACCOUNTS)
}

type Product
  @join__type(graph: INVENTORY, key: "upc")
  @join__type(graph: PRODUCTS, key: "upc")
  @join__type(graph: REVIEWS, key: "upc")
{
  upc: String!
  price: Int! @join__field(graph: INVENTORY, external: true) @join__field(graph: PRODUCTS)
  weight: Int! @join__field(graph: INVENTORY, external: true) @join__field(graph: PRODUCTS)
  inStock: Boolean! @join__field(graph: INVENTORY)
  shippingEstimate: Int! @join__field(graph: INVENTORY, requires: "price weight")
  name: String! @join__field(graph: PRODUCTS)
  secretCost: Int @join__field(graph: PRODUCTS) @inaccessible
  reviews: [Review!]! @join__field(graph: REVIEWS)
}

type Query
  @join__type(graph: ACCOUNTS)
  @join__type(graph: INVENTORY)
  @join__type(graph: PRODUCTS)
  @join__type(graph: REVIEWS)
{
  me: User! @join__field(graph: ACCOUNTS)
  users: [User!]! @join__field(graph: ACCOUNTS)
  account(id: ID!): Account @join__field(graph: ACCOUNTS)
  failing: String @join__field(graph: ACCOUNTS)
  whoami: String @join__field(graph: ACCOUNTS)
  warehouseName: String! @join__field(graph: INVENTORY)
  topProducts(first: Int! = 2): [Product!]! @join__field(graph: PRODUCTS)
  search: [SearchResult!]! @join__field(graph: PRODUCTS)
  latestReviews: [Review!]! @join__field(graph: REVIEWS)
}

type Review @join__type(graph: REVIEWS, key: "id") {
  id: ID!
  body: String!
  author: User! @join__field(graph: REVIEWS, provides: "username")
  product: Product! @join__field(graph: REVIEWS)
  broken: String! @join__field(graph: REVIEWS)
}

union SearchResult
  @join__type(graph: PRODUCTS)
  @join__unionMember(graph: PRODUCTS, member: "Product")
  @join__unionMember(graph: PRODUCTS, member: "Category")
= Product | Category

type User implements Account
  @join__implements(graph: ACCOUNTS, interface: "Account")
  @join__type(graph: ACCOUNTS, key: "id")
  @join__type(graph: REVIEWS, key: "id")
{
  id: ID!
  name: String! @join__field(graph: ACCOUNTS)
  username: String! @join__field(graph: ACCOUNTS) @join__field(graph: REVIEWS, external: true)
  reviews: [Review!]! @join__field(graph: REVIEWS)
}
"""


def supergraph_sdl(urls: dict[str, str]) -> str:
    out = SUPERGRAPH_TEMPLATE
    for name, url in urls.items():
        out = out.replace("{" + name + "}", url)
    return out
