"""The payments subgraph (strawberry, Apollo Federation v2)."""

from __future__ import annotations

import strawberry

from kopano.errors import MaskErrors
from payments.gql.operations import MemberType, Mutation, Query


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query, mutation=Mutation, types=[MemberType], extensions=[MaskErrors]
    )
