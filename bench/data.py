"""Fixed fixture data of the benchmark (the same values as graphql-gateways-benchmark's subgraphs).

Semantics that shape the expected response, kept as in that benchmark:
- every ``User.reviews`` is reviews 1 and 2, whatever the user;
- every ``Review.author`` is user 1 (``urigo``), provided by the reviews subgraph;
- ``Product.shippingEstimate`` is always null: the inventory subgraph computes it from its own
  price/weight (which it does not have) rather than from the ``@requires`` representation, yet a
  gateway still has to fetch ``price`` and ``weight`` first, so the query plan is unchanged.
"""

from __future__ import annotations

from typing import Any

_LOREM1 = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco "
    "laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in "
    "voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat "
    "non proident, sunt in culpa qui officia deserunt mollit anim id est laborum."
)
_LOREM2 = (
    "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque "
    "laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto "
    "beatae vitae dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut "
    "odit aut fugi"
)
_LOREM3 = (
    "sed quia consequuntur magni dolores eos qui ratione voluptatem sequi nesciunt. Neque porro "
    "quisquam est, qui dolorem ipsum quia dolor sit amet, consectetur, adipisci velit, sed quia non "
    "numquam eius modi tempora incidunt ut labore et dolore magnam aliquam quaerat voluptatem."
)
_LOREM4 = (
    "Ut enim ad minima veniam, quis nostrum exercitationem ullam corporis suscipit laboriosam, nisi "
    "ut aliquid ex ea commodi consequatur? Quis autem"
)
_LOREM5 = (
    "At vero eos et accusamus et iusto odio dignissimos ducimus qui blanditiis praesentium "
    "voluptatum deleniti atque corrupti quos dolores et quas molestias excepturi sint occaecati "
    "cupiditate non provident, similique sunt in culpa qui officia deserunt mollitia animi, id est "
    "laborum et dolorum fuga. Et harum quidem rerum facilis est et expedita distinctio. Nam libero "
    "tempore, cum soluta nobis est eligendi optio cumque nihil impedit quo minus id quod maxime "
    "placeat facere possimus, omnis voluptas assumenda est, omnis dolor repellendus. Temporibus "
    "autem quibusdam et aut officiis debitis aut rerum necessitatibus saepe eveniet ut et voluptates "
    "repudiandae sint et molestiae non recusandae. Itaque earum rerum hic tenetur a sapiente "
    "delectus, ut aut reiciendis voluptatibus maiores alias consequatur aut perferendis doloribus "
    "asperiores repellat."
)

Row = dict[str, Any]

USERS: list[Row] = [
    {"id": uid, "name": name, "username": username, "birthday": 1234567890}
    for uid, name, username in [
        ("1", "Uri Goldshtein", "urigo"),
        ("2", "Dotan Simha", "dotansimha"),
        ("3", "Kamil Kisiela", "kamilkisiela"),
        ("4", "Arda Tanrikulu", "ardatan"),
        ("5", "Gil Gardosh", "gilgardosh"),
        ("6", "Laurin Quast", "laurin"),
    ]
]

# products subgraph: upc, name, price, weight
PRODUCTS: list[Row] = [
    {"upc": upc, "name": name, "price": price, "weight": weight}
    for upc, name, price, weight in [
        ("1", "Table", 899, 100),
        ("2", "Couch", 1299, 1000),
        ("3", "Glass", 15, 20),
        ("4", "Chair", 499, 100),
        ("5", "TV", 1299, 1000),
        ("6", "Lamp", 6999, 300),
        ("7", "Grill", 3999, 2000),
        ("8", "Fridge", 100000, 6000),
        ("9", "Sofa", 9999, 800),
    ]
]

# inventory subgraph: upc -> inStock
IN_STOCK: dict[str, bool] = {
    "1": True,
    "2": False,
    "3": False,
    "4": False,
    "5": True,
    "6": True,
    "7": True,
    "8": False,
    "9": True,
}

# reviews subgraph: id, body, product upc
REVIEWS: list[Row] = [
    {"id": rid, "body": body, "product": {"upc": upc}}
    for rid, body, upc in [
        ("1", _LOREM1, "1"),
        ("2", _LOREM2, "1"),
        ("3", _LOREM3, "1"),
        ("4", _LOREM4, "1"),
        ("5", _LOREM1, "2"),
        ("6", _LOREM2, "2"),
        ("7", _LOREM3, "2"),
        ("8", _LOREM4, "2"),
        ("9", _LOREM4, "3"),
        ("10", _LOREM4, "4"),
        ("11", _LOREM5, "4"),
    ]
]

_USERS_BY_ID = {u["id"]: u for u in USERS}
_PRODUCTS_BY_UPC = {p["upc"]: p for p in PRODUCTS}
_REVIEWS_BY_ID = {r["id"]: r for r in REVIEWS}


def user_by_id(uid: object) -> Row | None:
    return _USERS_BY_ID.get(str(uid))


def product_by_upc(upc: object) -> Row | None:
    return _PRODUCTS_BY_UPC.get(str(upc))


def review_by_id(rid: object) -> Row | None:
    return _REVIEWS_BY_ID.get(str(rid))


def user_reviews() -> list[Row]:
    return REVIEWS[:2]


def review_author() -> Row:
    return {"id": "1", "username": "urigo"}


def reviews_for_upc(upc: object) -> list[Row]:
    return [r for r in REVIEWS if r["product"]["upc"] == str(upc)]


def top_products(first: int | None) -> list[Row]:
    return PRODUCTS[: 5 if first is None else first]


def shipping_estimate(own_price: int | None, own_weight: int | None) -> int | None:
    if own_price is None:
        return None
    if own_price > 1000:
        return 0
    return None if own_weight is None else own_weight // 2
