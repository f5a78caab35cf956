"""Per-request GraphQL context: the caller and request-scoped DataLoaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from kopano.auth import Principal
from kopano.errors import Forbidden, Unauthenticated
from kopano.web import RequestContext
from payments.domain.recipients import Recipient
from payments.service import Services


@dataclass
class PaymentsContext:
    base: RequestContext
    services: Services
    recipient_loader: DataLoader[uuid.UUID, Recipient | None] = field(init=False)

    def __post_init__(self) -> None:
        self.recipient_loader = DataLoader(load_fn=self._load_recipients)

    async def _load_recipients(self, ids: list[uuid.UUID]) -> list[Recipient | None]:
        found = await self.services.remittances.recipients_by_ids(ids)
        return [found.get(i) for i in ids]

    def principal(self) -> Principal | None:
        if self.base.auth_error is not None:
            raise self.base.auth_error
        principal: Principal | None = self.base.principal
        return principal

    def viewer_id(self) -> uuid.UUID | None:
        principal = self.principal()
        if principal is None:
            return None
        try:
            return uuid.UUID(principal.subject)
        except ValueError:
            raise Unauthenticated("Access token subject is not a member.") from None

    def member_id(self) -> uuid.UUID:
        viewer = self.viewer_id()
        if viewer is None:
            raise Unauthenticated("You must be signed in.")
        return viewer

    def is_admin(self) -> bool:
        principal = self.principal()
        return principal is not None and principal.has_role("admin")

    def require_admin(self) -> Principal:
        principal = self.principal()
        if principal is None:
            raise Unauthenticated("You must be signed in.")
        if not principal.has_role("admin"):
            raise Forbidden("Administrators only.")
        return principal
