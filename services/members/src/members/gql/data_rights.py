"""Data rights: a copy of everything held about you, and erasure."""

from __future__ import annotations

from typing import cast

import strawberry
from strawberry.scalars import JSON

from members.gql.base import Ctx, signed_in


@strawberry.type
class DataRightsQuery:
    @signed_in("Everything the members service holds about you, as one JSON document.")
    async def my_data(self, info: Ctx) -> JSON:
        data = await info.context.services.data_rights.my_data(await info.context.actor())
        return cast(JSON, data)


@strawberry.type
class DataRightsMutation:
    @signed_in(
        "Erase your account: your name, email, phone and profile are removed, your sessions, "
        "connections and memberships end, and other services are told to forget you."
    )
    async def erase_me(self, info: Ctx, password: str) -> bool:
        return await info.context.services.data_rights.erase_me(
            await info.context.actor(), password
        )
