"""Per-request GraphQL context: the caller (verified lazily) and request-scoped DataLoaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from strawberry.dataloader import DataLoader

from kopano.auth import Principal, TokenVerifier, principal_from_request
from kopano.errors import Unauthenticated
from members.domain.model import Member
from members.domain.visibility import Relation
from members.use_cases import MembersService, require_member_id

_UNRESOLVED: Any = object()


@dataclass
class MembersContext:
    request: Request
    service: MembersService
    verifier: TokenVerifier
    member_loader: DataLoader[uuid.UUID, Member | None] = field(init=False)
    _principal: Principal | None = field(default=_UNRESOLVED, init=False)

    def __post_init__(self) -> None:
        # A new loader per request: batching within one request, no cross-request cache.
        self.member_loader = DataLoader(load_fn=self._load_members)

    async def _load_members(self, ids: list[uuid.UUID]) -> list[Member | None]:
        found = await self.service.members_by_ids(ids)
        return [found.get(i) for i in ids]

    async def principal(self) -> Principal | None:
        """The verified caller, None when anonymous; a bad or expired token raises."""
        if self._principal is _UNRESOLVED:
            self._principal = await principal_from_request(self.request, self.verifier)
        return self._principal

    async def member_id(self) -> uuid.UUID:
        return require_member_id(await self.principal())

    async def viewer_id(self) -> uuid.UUID | None:
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
        return Relation.MEMBER
