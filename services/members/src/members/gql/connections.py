"""Connections between members, blocking, and per-field visibility."""

from __future__ import annotations

import strawberry

from members.domain import model
from members.gql.base import Ctx, FieldVisibility, signed_in
from members.gql.types import ConnectionNode, MemberType
from members.service.common import parse_id


@strawberry.input
class FieldVisibilityInput:
    field: str = strawberry.field(description="A profile field, e.g. city, phone, skills.")
    visibility: FieldVisibility  # type: ignore[valid-type]


@strawberry.type
class ConnectionMutation:
    @signed_in("Ask to connect (accepts their request if they already asked you).")
    async def request_connection(self, info: Ctx, member_id: strawberry.ID) -> ConnectionNode:
        actor = await info.context.actor()
        connection = await info.context.services.connections.request(
            actor, parse_id(member_id, "memberId")
        )
        return ConnectionNode(data=connection, viewer=actor.member_id)

    @signed_in()
    async def accept_connection(self, info: Ctx, member_id: strawberry.ID) -> ConnectionNode:
        actor = await info.context.actor()
        connection = await info.context.services.connections.accept(
            actor, parse_id(member_id, "memberId")
        )
        return ConnectionNode(data=connection, viewer=actor.member_id)

    @signed_in()
    async def decline_connection(self, info: Ctx, member_id: strawberry.ID) -> bool:
        return await info.context.services.connections.decline(
            await info.context.actor(), parse_id(member_id, "memberId")
        )

    @signed_in()
    async def cancel_connection_request(self, info: Ctx, member_id: strawberry.ID) -> bool:
        return await info.context.services.connections.cancel(
            await info.context.actor(), parse_id(member_id, "memberId")
        )

    @signed_in()
    async def remove_connection(self, info: Ctx, member_id: strawberry.ID) -> bool:
        return await info.context.services.connections.remove(
            await info.context.actor(), parse_id(member_id, "memberId")
        )

    @signed_in("Block a member: any connection ends and you become invisible to each other.")
    async def block_member(self, info: Ctx, member_id: strawberry.ID) -> bool:
        return await info.context.services.connections.block(
            await info.context.actor(), parse_id(member_id, "memberId")
        )

    @signed_in()
    async def unblock_member(self, info: Ctx, member_id: strawberry.ID) -> bool:
        return await info.context.services.connections.unblock(
            await info.context.actor(), parse_id(member_id, "memberId")
        )

    @signed_in("Choose who may see each profile field.")
    async def set_field_visibility(
        self, info: Ctx, settings: list[FieldVisibilityInput]
    ) -> MemberType:
        member = await info.context.services.accounts.set_visibility(
            await info.context.principal(),
            {s.field: model.Visibility(s.visibility) for s in settings},
        )
        return MemberType.from_model(member)
