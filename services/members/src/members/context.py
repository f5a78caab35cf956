"""Per-request GraphQL context: the caller (verified lazily) and request-scoped DataLoaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from kopano.auth import Principal
from kopano.errors import Unauthenticated
from kopano.web import RequestContext
from members.domain.model import Member, MemberStatus
from members.domain.organisations import Membership, Organisation
from members.domain.visibility import Relation
from members.service import Services
from members.service.common import Actor, require_member_id


@dataclass
class MembersContext:
    base: RequestContext
    services: Services
    member_loader: DataLoader[uuid.UUID, Member | None] = field(init=False)
    # Set by register/login/refresh: the response describes the caller's own account.
    acting_as: uuid.UUID | None = field(default=None, init=False)

    organisation_loader: DataLoader[uuid.UUID, Organisation | None] = field(init=False)
    member_count_loader: DataLoader[uuid.UUID, int] = field(init=False)
    my_membership_loader: DataLoader[uuid.UUID, Membership | None] = field(init=False)
    # (connected, blocked either way) between the viewer and a member.
    relation_loader: DataLoader[uuid.UUID, tuple[bool, bool]] = field(init=False)

    def __post_init__(self) -> None:
        # New loaders per request: batching within one request, no cross-request cache.
        self.member_loader = DataLoader(load_fn=self._load_members)
        self.organisation_loader = DataLoader(load_fn=self._load_organisations)
        self.member_count_loader = DataLoader(load_fn=self._load_member_counts)
        self.my_membership_loader = DataLoader(load_fn=self._load_my_memberships)
        self.relation_loader = DataLoader(load_fn=self._load_relations)

    async def _load_relations(self, ids: list[uuid.UUID]) -> list[tuple[bool, bool]]:
        viewer = await self.viewer_id()
        if viewer is None:
            return [(False, False)] * len(ids)
        connected, blocked = await self.services.connections.relations(viewer, ids)
        return [(i in connected, i in blocked) for i in ids]

    async def _load_organisations(self, ids: list[uuid.UUID]) -> list[Organisation | None]:
        found = await self.services.organisations.get_many(ids)
        return [found.get(i) for i in ids]

    async def _load_member_counts(self, ids: list[uuid.UUID]) -> list[int]:
        found = await self.services.organisations.member_counts(ids)
        return [found.get(i, 0) for i in ids]

    async def _load_my_memberships(self, ids: list[uuid.UUID]) -> list[Membership | None]:
        viewer = await self.viewer_id()
        if viewer is None:
            return [None] * len(ids)
        found = await self.services.organisations.memberships_for(viewer, ids)
        return [found.get(i) for i in ids]

    async def _load_members(self, ids: list[uuid.UUID]) -> list[Member | None]:
        found = await self.services.accounts.members_by_ids(ids)
        return [found.get(i) for i in ids]

    async def principal(self) -> Principal | None:
        """The verified caller, None when anonymous; a bad or expired token raises."""
        if self.base.auth_error is not None:
            raise self.base.auth_error
        principal: Principal | None = self.base.principal
        return principal

    async def member_id(self) -> uuid.UUID:
        return require_member_id(await self.principal())

    async def actor(self) -> Actor:
        """The caller plus where the request came from, for use cases that audit."""
        client = self.base.request.client
        return Actor(
            principal=await self.principal(),
            request_id=self.base.request_id or None,
            client_address=client.host if client else None,
        )

    async def is_admin(self) -> bool:
        principal = await self.principal()
        return principal is not None and principal.has_role("admin")

    async def viewer_id(self) -> uuid.UUID | None:
        if self.acting_as is not None:
            return self.acting_as
        principal = await self.principal()
        if principal is None:
            return None
        try:
            return uuid.UUID(principal.subject)
        except ValueError:
            raise Unauthenticated("Access token subject is not a member.") from None

    async def relation_to(self, member: Member) -> Relation:
        viewer = await self.viewer_id()
        if viewer is None:
            return Relation.ANONYMOUS
        if viewer == member.id:
            return Relation.SELF
        connected, _ = await self.relation_loader.load(member.id)
        return Relation.CONNECTION if connected else Relation.MEMBER

    async def hidden(self, member: Member) -> bool:
        """Erased members are gone; a block (either way) hides two members from each other."""
        if member.status is MemberStatus.ERASED:
            return True
        viewer = await self.viewer_id()
        if viewer is None or viewer == member.id:
            return False
        _, blocked = await self.relation_loader.load(member.id)
        return blocked
