"""Repositories: map the member aggregate and its satellites to PostgreSQL rows (SQLAlchemy Core)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from kopano.errors import Conflict
from members.adapters import tables as t
from members.domain import values as v
from members.domain.model import (
    Member,
    MemberStatus,
    Profile,
    Visibility,
    parse_roles,
)


def is_unique_violation(exc: IntegrityError, constraint: str) -> bool:
    """True when the failure is the named unique index/constraint (SQLSTATE 23505)."""
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    name = getattr(getattr(orig, "__cause__", None), "constraint_name", None)
    return code == "23505" and (name == constraint or constraint in str(orig))


def _member_values(member: Member) -> dict[str, Any]:
    p = member.profile
    return {
        "email": member.email,
        "password_hash": member.password_hash,
        "full_name": member.full_name,
        "country_of_residence": member.country_of_residence,
        "phone": member.phone,
        "district_of_origin": member.district_of_origin,
        "roles": sorted(r.value for r in member.roles),
        "status": member.status.value,
        "preferred_name": p.preferred_name,
        "occupation": p.occupation,
        "sector": p.sector.value if p.sector else None,
        "skills": list(p.skills),
        "languages": list(p.languages),
        "city": p.city,
        "bio": p.bio,
        "education_level": p.education_level.value if p.education_level else None,
        "years_abroad": p.years_abroad,
        "willing_to_mentor": p.willing_to_mentor,
        "willing_to_invest": p.willing_to_invest,
        "photo_url": p.photo_url,
        "visibility": {k: val.value for k, val in member.visibility.items()},
        "registered_at": member.registered_at,
        "updated_at": member.updated_at,
        "version": member.version,
    }


def member_from_row(row: sa.Row[Any] | sa.RowMapping) -> Member:
    m = row._mapping if isinstance(row, sa.Row) else row
    stored_visibility = dict(m["visibility"] or {})
    member = Member(
        id=m["id"],
        email=m["email"],
        password_hash=m["password_hash"],
        full_name=m["full_name"],
        country_of_residence=m["country_of_residence"],
        phone=m["phone"],
        district_of_origin=m["district_of_origin"],
        registered_at=m["registered_at"],
        updated_at=m["updated_at"],
        roles=parse_roles(m["roles"]),
        status=MemberStatus(m["status"]),
        profile=Profile(
            preferred_name=m["preferred_name"],
            occupation=m["occupation"],
            sector=v.Sector(m["sector"]) if m["sector"] else None,
            skills=tuple(m["skills"] or ()),
            languages=tuple(m["languages"] or ()),
            city=m["city"],
            bio=m["bio"],
            education_level=(
                v.EducationLevel(m["education_level"]) if m["education_level"] else None
            ),
            years_abroad=m["years_abroad"],
            willing_to_mentor=m["willing_to_mentor"],
            willing_to_invest=m["willing_to_invest"],
            photo_url=m["photo_url"],
        ),
        version=m["version"],
    )
    member.visibility.update({k: Visibility(val) for k, val in stored_visibility.items()})
    return member


class MemberRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, member: Member) -> None:
        values = _member_values(member)
        try:
            await self.conn.execute(t.members.insert().values(id=member.id, **values))
        except IntegrityError as exc:
            if is_unique_violation(exc, "uq_members_email_lower"):
                raise Conflict(
                    "An account with this email already exists.", field="email"
                ) from None
            raise

    async def get(self, member_id: uuid.UUID, *, for_update: bool = False) -> Member | None:
        query = sa.select(t.members).where(t.members.c.id == member_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return member_from_row(row) if row else None

    async def get_by_email(self, email: str) -> Member | None:
        query = sa.select(t.members).where(sa.func.lower(t.members.c.email) == v.email_key(email))
        row = (await self.conn.execute(query)).first()
        return member_from_row(row) if row else None

    async def get_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Member]:
        """One query for a whole batch (used by the federation entity loader)."""
        if not ids:
            return {}
        rows = await self.conn.execute(sa.select(t.members).where(t.members.c.id.in_(list(ids))))
        return {row.id: member_from_row(row) for row in rows}

    async def update(self, member: Member) -> None:
        values = _member_values(member)
        del values["registered_at"]
        try:
            await self.conn.execute(
                t.members.update().where(t.members.c.id == member.id).values(**values)
            )
        except IntegrityError as exc:
            if is_unique_violation(exc, "uq_members_email_lower"):
                raise Conflict(
                    "An account with this email already exists.", field="email"
                ) from None
            raise


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: uuid.UUID
    member_id: uuid.UUID
    family_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class RefreshTokenRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, record: RefreshTokenRecord, token_hash: str) -> None:
        await self.conn.execute(
            t.refresh_tokens.insert().values(
                id=record.id,
                member_id=record.member_id,
                family_id=record.family_id,
                token_hash=token_hash,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
            )
        )

    async def get_by_hash_for_update(self, token_hash: str) -> RefreshTokenRecord | None:
        rt = t.refresh_tokens
        row = (
            await self.conn.execute(
                sa.select(
                    rt.c.id,
                    rt.c.member_id,
                    rt.c.family_id,
                    rt.c.issued_at,
                    rt.c.expires_at,
                    rt.c.used_at,
                    rt.c.revoked_at,
                )
                .where(rt.c.token_hash == token_hash)
                .with_for_update()
            )
        ).first()
        return RefreshTokenRecord(*row) if row else None

    async def mark_used(self, token_id: uuid.UUID, replaced_by: uuid.UUID, now: datetime) -> None:
        rt = t.refresh_tokens
        await self.conn.execute(
            rt.update().where(rt.c.id == token_id).values(used_at=now, replaced_by=replaced_by)
        )

    async def revoke(self, token_id: uuid.UUID, now: datetime) -> None:
        rt = t.refresh_tokens
        await self.conn.execute(
            rt.update().where(rt.c.id == token_id, rt.c.revoked_at.is_(None)).values(revoked_at=now)
        )

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> int:
        rt = t.refresh_tokens
        result = await self.conn.execute(
            rt.update()
            .where(rt.c.family_id == family_id, rt.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount or 0)

    async def revoke_all_for_member(
        self, member_id: uuid.UUID, now: datetime, *, except_family: uuid.UUID | None = None
    ) -> int:
        rt = t.refresh_tokens
        query = rt.update().where(rt.c.member_id == member_id, rt.c.revoked_at.is_(None))
        if except_family is not None:
            query = query.where(rt.c.family_id != except_family)
        result = await self.conn.execute(query.values(revoked_at=now))
        return int(result.rowcount or 0)


class ConsentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_many(self, member_id: uuid.UUID, consents: Iterable[v.Consent]) -> None:
        rows = [
            {
                "member_id": member_id,
                "kind": c.kind.value,
                "version": c.version,
                "granted_at": c.granted_at,
            }
            for c in consents
        ]
        if rows:
            await self.conn.execute(t.consents.insert(), rows)

    async def for_member(self, member_id: uuid.UUID) -> list[v.Consent]:
        c = t.consents
        rows = await self.conn.execute(
            sa.select(c.c.kind, c.c.version, c.c.granted_at)
            .where(c.c.member_id == member_id, c.c.withdrawn_at.is_(None))
            .order_by(c.c.id)
        )
        return [v.Consent(v.ConsentKind(r.kind), r.version, r.granted_at) for r in rows]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    occurred_at: datetime
    actor_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    request_id: str | None
    client_address: str | None


class AuditRepository:
    """Append-only: there is deliberately no update or delete here (the database refuses both)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def append(
        self,
        *,
        occurred_at: datetime,
        actor_id: uuid.UUID | None,
        action: str,
        target_type: str,
        target_id: str,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        client_address: str | None = None,
    ) -> None:
        await self.conn.execute(
            t.audit_log.insert().values(
                occurred_at=occurred_at,
                actor_id=actor_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=details or {},
                request_id=request_id,
                client_address=client_address,
            )
        )

    async def page(
        self,
        *,
        limit: int,
        before_id: int | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        actor_id: uuid.UUID | None = None,
    ) -> list[AuditEntry]:
        """Newest first, keyset-paginated by id."""
        a = t.audit_log
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(a.c.id < before_id)
        if target_type is not None:
            query = query.where(a.c.target_type == target_type)
        if target_id is not None:
            query = query.where(a.c.target_id == target_id)
        if actor_id is not None:
            query = query.where(a.c.actor_id == actor_id)
        rows = await self.conn.execute(query)
        return [AuditEntry(**row._mapping) for row in rows]


async def delete_member_satellites(conn: AsyncConnection, member_id: uuid.UUID) -> None:
    """Erasure: sessions and consent records go with the person."""
    await conn.execute(t.refresh_tokens.delete().where(t.refresh_tokens.c.member_id == member_id))
    await conn.execute(t.consents.delete().where(t.consents.c.member_id == member_id))


async def sessions_of(conn: AsyncConnection, member_id: uuid.UUID) -> list[dict[str, Any]]:
    rt = t.refresh_tokens
    rows = await conn.execute(
        sa.select(rt.c.issued_at, rt.c.expires_at, rt.c.used_at, rt.c.revoked_at)
        .where(rt.c.member_id == member_id)
        .order_by(rt.c.issued_at)
    )
    return [
        {
            "issuedAt": r.issued_at,
            "expiresAt": r.expires_at,
            "usedAt": r.used_at,
            "revokedAt": r.revoked_at,
        }
        for r in rows
    ]
