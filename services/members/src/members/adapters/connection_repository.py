"""Connections and blocks in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from members.adapters import tables as t
from members.domain.connections import Connection, ConnectionStatus, pair

c = t.connections
b = t.blocks


def _from_row(row: Any) -> Connection:
    m = row._mapping
    return Connection(
        member_low=m["member_low"],
        member_high=m["member_high"],
        requested_by=m["requested_by"],
        status=ConnectionStatus(m["status"]),
        created_at=m["created_at"],
        responded_at=m["responded_at"],
    )


class ConnectionRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(
        self, a: uuid.UUID, other: uuid.UUID, *, for_update: bool = False
    ) -> Connection | None:
        low, high = pair(a, other)
        query = sa.select(c).where(c.c.member_low == low, c.c.member_high == high)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return _from_row(row) if row else None

    async def add(self, connection: Connection) -> bool:
        """False when the pair already has a row (a concurrent request won)."""
        result = await self.conn.execute(
            pg_insert(c)
            .values(
                member_low=connection.member_low,
                member_high=connection.member_high,
                requested_by=connection.requested_by,
                status=connection.status.value,
                created_at=connection.created_at,
                responded_at=connection.responded_at,
            )
            .on_conflict_do_nothing()
            .returning(c.c.member_low)
        )
        return result.first() is not None

    async def update(self, connection: Connection) -> None:
        await self.conn.execute(
            c.update()
            .where(
                c.c.member_low == connection.member_low, c.c.member_high == connection.member_high
            )
            .values(status=connection.status.value, responded_at=connection.responded_at)
        )

    async def delete(self, a: uuid.UUID, other: uuid.UUID) -> None:
        low, high = pair(a, other)
        await self.conn.execute(c.delete().where(c.c.member_low == low, c.c.member_high == high))

    async def of_member(
        self, member_id: uuid.UUID, status: ConnectionStatus | None = None
    ) -> list[Connection]:
        query = sa.select(c).where(
            sa.or_(c.c.member_low == member_id, c.c.member_high == member_id)
        )
        if status is not None:
            query = query.where(c.c.status == status.value)
        rows = await self.conn.execute(query.order_by(c.c.created_at))
        return [_from_row(r) for r in rows]

    async def connected_among(
        self, member_id: uuid.UUID, others: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Which of ``others`` have an accepted connection with ``member_id`` (one query)."""
        if not others:
            return set()
        ids = list(others)
        rows = await self.conn.execute(
            sa.select(c.c.member_low, c.c.member_high).where(
                c.c.status == ConnectionStatus.ACCEPTED.value,
                sa.or_(
                    sa.and_(c.c.member_low == member_id, c.c.member_high.in_(ids)),
                    sa.and_(c.c.member_high == member_id, c.c.member_low.in_(ids)),
                ),
            )
        )
        return {high if low == member_id else low for low, high in rows}

    # ------------------------------------------------------------------ blocks

    async def block(self, blocker: uuid.UUID, blocked: uuid.UUID, now: datetime) -> None:
        await self.conn.execute(
            pg_insert(b)
            .values(blocker_id=blocker, blocked_id=blocked, created_at=now)
            .on_conflict_do_nothing()
        )

    async def unblock(self, blocker: uuid.UUID, blocked: uuid.UUID) -> bool:
        result = await self.conn.execute(
            b.delete().where(b.c.blocker_id == blocker, b.c.blocked_id == blocked)
        )
        return bool(result.rowcount)

    async def blocked_either_way(
        self, member_id: uuid.UUID, others: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        if not others:
            return set()
        ids = list(others)
        rows = await self.conn.execute(
            sa.select(b.c.blocker_id, b.c.blocked_id).where(
                sa.or_(
                    sa.and_(b.c.blocker_id == member_id, b.c.blocked_id.in_(ids)),
                    sa.and_(b.c.blocked_id == member_id, b.c.blocker_id.in_(ids)),
                )
            )
        )
        return {blocked if blocker == member_id else blocker for blocker, blocked in rows}

    async def blocked_by(self, member_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.conn.execute(
            sa.select(b.c.blocked_id).where(b.c.blocker_id == member_id).order_by(b.c.created_at)
        )
        return [r[0] for r in rows]

    async def delete_all_for(self, member_id: uuid.UUID) -> list[Connection]:
        """Remove every connection and block touching a member; returns the connections removed."""
        removed = await self.of_member(member_id)
        await self.conn.execute(
            c.delete().where(sa.or_(c.c.member_low == member_id, c.c.member_high == member_id))
        )
        await self.conn.execute(
            b.delete().where(sa.or_(b.c.blocker_id == member_id, b.c.blocked_id == member_id))
        )
        return removed
