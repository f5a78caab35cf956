"""The members subgraph (strawberry, Apollo Federation v2): composes the per-area GraphQL modules.

Thin by design: resolvers translate GraphQL input and call the use cases in ``members.service``.
"""

from __future__ import annotations

import strawberry

from kopano.errors import MaskErrors
from members.gql.accounts import AccountMutation, AccountQuery
from members.gql.admin import AdminMutation, AdminQuery
from members.gql.connections import ConnectionMutation
from members.gql.data_rights import DataRightsMutation, DataRightsQuery
from members.gql.directory import DirectoryQuery
from members.gql.organisations import OrganisationMutation, OrganisationQuery
from members.gql.statistics import StatisticsQuery
from members.gql.types import MemberType, OrganisationNode


@strawberry.type
class Query(
    AccountQuery, AdminQuery, OrganisationQuery, DirectoryQuery, StatisticsQuery, DataRightsQuery
):
    pass


@strawberry.type
class Mutation(
    AccountMutation, AdminMutation, OrganisationMutation, ConnectionMutation, DataRightsMutation
):
    pass


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[MemberType, OrganisationNode],
        extensions=[MaskErrors],
    )
