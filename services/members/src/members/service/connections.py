"""Connection requests (send, accept, decline, cancel, remove) and blocking."""

from __future__ import annotations

import uuid

from kopano.errors import Conflict, NotFound
from members import events
from members.domain.connections import Connection, ConnectionStatus, pair
from members.service.common import Actor, ServiceConfig, active_member, existing_member
from members.unit_of_work import UnitOfWork

NO_SUCH_MEMBER = "No such member."


class ConnectionService:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config

    def _publish(self, uow: UnitOfWork, kind: str, connection: Connection, **extra: str) -> None:
        uow.publish(
            events.connection_event(kind, connection, self.config.event_source, **extra),
            self.config.connection_topic,
        )

    async def _other(self, uow: UnitOfWork, me: uuid.UUID, other: uuid.UUID) -> None:
        """The other member must exist and neither may have blocked the other (a block makes
        each invisible to the other, so it reads as "no such member")."""
        pair(me, other)
        await existing_member(uow, other)
        if await uow.connections.blocked_either_way(me, [other]):
            raise NotFound(NO_SUCH_MEMBER, field="memberId")

    async def request(self, actor: Actor, other: uuid.UUID) -> Connection:
        """Send a request; if they already asked you, this accepts theirs."""
        async with self.config.uow() as uow:
            me = (await active_member(uow, actor.member_id)).id
            await self._other(uow, me, other)
            now = self.config.clock()
            existing = await uow.connections.get(me, other, for_update=True)
            if existing is None:
                low, high = pair(me, other)
                connection = Connection(low, high, me, ConnectionStatus.PENDING, now)
                if not await uow.connections.add(connection):
                    raise Conflict("A request between you already exists.", field="memberId")
            elif existing.accepted:
                raise Conflict("You are already connected.", field="memberId")
            elif existing.requested_by == me:
                raise Conflict("You already sent a request.", field="memberId")
            else:
                connection = await self._accept(uow, existing)
            await uow.commit()
        return connection

    async def _accept(self, uow: UnitOfWork, connection: Connection) -> Connection:
        now = self.config.clock()
        connection.status = ConnectionStatus.ACCEPTED
        connection.responded_at = now
        await uow.connections.update(connection)
        self._publish(uow, events.CONNECTION_ACCEPTED, connection, acceptedAt=now.isoformat())
        return connection

    async def _incoming(self, uow: UnitOfWork, me: uuid.UUID, requester: uuid.UUID) -> Connection:
        connection = await uow.connections.get(me, requester, for_update=True)
        if connection is None or connection.accepted or connection.requested_by != requester:
            raise NotFound("No pending request from this member.", field="memberId")
        return connection

    async def accept(self, actor: Actor, requester: uuid.UUID) -> Connection:
        async with self.config.uow() as uow:
            me = (await active_member(uow, actor.member_id)).id
            await self._other(uow, me, requester)
            connection = await self._accept(uow, await self._incoming(uow, me, requester))
            await uow.commit()
        return connection

    async def decline(self, actor: Actor, requester: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            me = (await active_member(uow, actor.member_id)).id
            await self._incoming(uow, me, requester)
            await uow.connections.delete(me, requester)
            await uow.commit()
        return True

    async def cancel(self, actor: Actor, addressee: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            me = (await active_member(uow, actor.member_id)).id
            connection = await uow.connections.get(me, addressee, for_update=True)
            if connection is None or connection.accepted or connection.requested_by != me:
                raise NotFound("No pending request to this member.", field="memberId")
            await uow.connections.delete(me, addressee)
            await uow.commit()
        return True

    async def remove(self, actor: Actor, other: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            me = (await active_member(uow, actor.member_id)).id
            connection = await uow.connections.get(me, other, for_update=True)
            if connection is None or not connection.accepted:
                raise NotFound("You are not connected with this member.", field="memberId")
            await uow.connections.delete(me, other)
            self._removed(uow, connection, "removed")
            await uow.commit()
        return True

    def _removed(self, uow: UnitOfWork, connection: Connection, reason: str) -> None:
        self._publish(
            uow,
            events.CONNECTION_REMOVED,
            connection,
            reason=reason,
            removedAt=self.config.clock().isoformat(),
        )

    async def block(self, actor: Actor, other: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            me = (await active_member(uow, actor.member_id)).id
            pair(me, other)
            await existing_member(uow, other)
            connection = await uow.connections.get(me, other, for_update=True)
            if connection is not None:
                await uow.connections.delete(me, other)
                if connection.accepted:
                    self._removed(uow, connection, "blocked")
            await uow.connections.block(me, other, self.config.clock())
            await uow.commit()
        return True

    async def unblock(self, actor: Actor, other: uuid.UUID) -> bool:
        async with self.config.uow() as uow:
            me = (await active_member(uow, actor.member_id)).id
            if not await uow.connections.unblock(me, other):
                raise NotFound("You have not blocked this member.", field="memberId")
            await uow.commit()
        return True

    # ------------------------------------------------------------------ reading

    async def mine(self, member_id: uuid.UUID, status: ConnectionStatus) -> list[Connection]:
        async with self.config.uow() as uow:
            return await uow.connections.of_member(member_id, status)

    async def blocked(self, member_id: uuid.UUID) -> list[uuid.UUID]:
        async with self.config.uow() as uow:
            return await uow.connections.blocked_by(member_id)

    async def relations(
        self, viewer: uuid.UUID, others: list[uuid.UUID]
    ) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
        """(connected, blocked either way) among ``others``, in one transaction."""
        async with self.config.uow() as uow:
            connected = await uow.connections.connected_among(viewer, others)
            blocked = await uow.connections.blocked_either_way(viewer, others)
        return connected, blocked
