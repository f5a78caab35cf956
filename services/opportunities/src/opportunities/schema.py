"""The opportunities subgraph (strawberry, Apollo Federation v2)."""

from __future__ import annotations

import strawberry

from kopano.errors import MaskErrors
from opportunities.gql.operations import Mutation, Query
from opportunities.gql.types import ApplicationType, MemberRef, OpportunityType, OrganisationRef


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[OpportunityType, ApplicationType, MemberRef, OrganisationRef],
        extensions=[MaskErrors],
    )
