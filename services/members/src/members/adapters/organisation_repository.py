"""Organisations and memberships in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from kopano.errors import Conflict
from members.adapters import tables as t
from members.adapters.repository import is_unique_violation
from members.domain.organisations import (
    JoinPolicy,
    Membership,
    MembershipStatus,
    Organisation,
    OrganisationFilter,
    OrganisationRole,
    OrganisationStatus,
    OrganisationType,
)

o = t.organisations
om = t.organisation_memberships


def _values(org: Organisation) -> dict[str, Any]:
    return {
        "name": org.name,
        "name_key": org.name.casefold(),
        "type": org.type.value,
        "description": org.description,
        "country": org.country,
        "city": org.city,
        "website": org.website,
        "join_policy": org.join_policy.value,
        "verified": org.verified,
        "verified_at": org.verified_at,
        "status": org.status.value,
        "created_by": org.created_by,
        "created_at": org.created_at,
        "updated_at": org.updated_at,
        "version": org.version,
    }


def organisation_from_row(row: Any) -> Organisation:
    m = row._mapping
    return Organisation(
        id=m["id"],
        name=m["name"],
        type=OrganisationType(m["type"]),
        description=m["description"],
        country=m["country"],
        city=m["city"],
        website=m["website"],
        join_policy=JoinPolicy(m["join_policy"]),
        created_by=m["created_by"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        verified=m["verified"],
        verified_at=m["verified_at"],
        status=OrganisationStatus(m["status"]),
        version=m["version"],
    )


def membership_from_row(row: Any) -> Membership:
    m = row._mapping
    return Membership(
        organisation_id=m["organisation_id"],
        member_id=m["member_id"],
        role=OrganisationRole(m["role"]),
        status=MembershipStatus(m["status"]),
        requested_at=m["requested_at"],
        joined_at=m["joined_at"],
    )


def _name_conflict(exc: IntegrityError) -> None:
    if is_unique_violation(exc, "uq_organisations_name_active"):
        raise Conflict("An organisation with this name already exists.", field="name") from None
    raise exc


class OrganisationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, org: Organisation) -> None:
        try:
            await self.conn.execute(o.insert().values(id=org.id, **_values(org)))
        except IntegrityError as exc:
            _name_conflict(exc)

    async def update(self, org: Organisation) -> None:
        try:
            await self.conn.execute(o.update().where(o.c.id == org.id).values(**_values(org)))
        except IntegrityError as exc:
            _name_conflict(exc)

    async def get(self, org_id: uuid.UUID, *, for_update: bool = False) -> Organisation | None:
        query = sa.select(o).where(o.c.id == org_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return organisation_from_row(row) if row else None

    async def get_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Organisation]:
        if not ids:
            return {}
        rows = await self.conn.execute(sa.select(o).where(o.c.id.in_(list(ids))))
        return {row.id: organisation_from_row(row) for row in rows}

    async def page(
        self, flt: OrganisationFilter, *, limit: int, after: tuple[str, uuid.UUID] | None
    ) -> list[Organisation]:
        """Active organisations ordered by (lower(name), id) — a stable keyset order."""
        query = sa.select(o).where(o.c.status == OrganisationStatus.ACTIVE.value)
        if flt.type is not None:
            query = query.where(o.c.type == flt.type.value)
        if flt.country is not None:
            query = query.where(o.c.country == flt.country)
        if flt.city is not None:
            query = query.where(sa.func.lower(o.c.city) == flt.city.casefold())
        if flt.verified is not None:
            query = query.where(o.c.verified.is_(flt.verified))
        if flt.search:
            query = query.where(o.c.name_key.contains(flt.search.casefold(), autoescape=True))
        if after is not None:
            query = query.where(sa.tuple_(o.c.name_key, o.c.id) > sa.tuple_(*after))
        query = query.order_by(o.c.name_key, o.c.id).limit(limit)
        return [organisation_from_row(row) for row in await self.conn.execute(query)]

    # ------------------------------------------------------------------ memberships

    async def membership(
        self, org_id: uuid.UUID, member_id: uuid.UUID, *, for_update: bool = False
    ) -> Membership | None:
        query = sa.select(om).where(om.c.organisation_id == org_id, om.c.member_id == member_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return membership_from_row(row) if row else None

    async def add_membership(self, membership: Membership) -> bool:
        """Insert; False when the member already has a membership (or a pending request)."""
        result = await self.conn.execute(
            pg_insert(om)
            .values(
                organisation_id=membership.organisation_id,
                member_id=membership.member_id,
                role=membership.role.value,
                status=membership.status.value,
                requested_at=membership.requested_at,
                joined_at=membership.joined_at,
            )
            .on_conflict_do_nothing()
            .returning(om.c.member_id)
        )
        return result.first() is not None

    async def update_membership(self, membership: Membership) -> None:
        await self.conn.execute(
            om.update()
            .where(
                om.c.organisation_id == membership.organisation_id,
                om.c.member_id == membership.member_id,
            )
            .values(
                role=membership.role.value,
                status=membership.status.value,
                joined_at=membership.joined_at,
            )
        )

    async def delete_membership(self, org_id: uuid.UUID, member_id: uuid.UUID) -> None:
        await self.conn.execute(
            om.delete().where(om.c.organisation_id == org_id, om.c.member_id == member_id)
        )

    async def count_owners(self, org_id: uuid.UUID) -> int:
        return int(
            await self.conn.scalar(
                sa.select(sa.func.count())
                .select_from(om)
                .where(
                    om.c.organisation_id == org_id,
                    om.c.role == OrganisationRole.OWNER.value,
                    om.c.status == MembershipStatus.ACTIVE.value,
                )
            )
            or 0
        )

    async def memberships_of_organisation(
        self, org_id: uuid.UUID, status: MembershipStatus
    ) -> list[Membership]:
        rows = await self.conn.execute(
            sa.select(om)
            .where(om.c.organisation_id == org_id, om.c.status == status.value)
            .order_by(om.c.requested_at, om.c.member_id)
        )
        return [membership_from_row(r) for r in rows]

    async def memberships_of_member(self, member_id: uuid.UUID) -> list[Membership]:
        rows = await self.conn.execute(
            sa.select(om)
            .join(o, o.c.id == om.c.organisation_id)
            .where(om.c.member_id == member_id, o.c.status == OrganisationStatus.ACTIVE.value)
            .order_by(o.c.name_key)
        )
        return [membership_from_row(r) for r in rows]

    async def member_counts(self, org_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not org_ids:
            return {}
        rows = await self.conn.execute(
            sa.select(om.c.organisation_id, sa.func.count())
            .where(
                om.c.organisation_id.in_(list(org_ids)),
                om.c.status == MembershipStatus.ACTIVE.value,
            )
            .group_by(om.c.organisation_id)
        )
        return {row[0]: int(row[1]) for row in rows}

    async def memberships_for(
        self, member_id: uuid.UUID, org_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Membership]:
        if not org_ids:
            return {}
        rows = await self.conn.execute(
            sa.select(om).where(
                om.c.member_id == member_id, om.c.organisation_id.in_(list(org_ids))
            )
        )
        return {row.organisation_id: membership_from_row(row) for row in rows}
