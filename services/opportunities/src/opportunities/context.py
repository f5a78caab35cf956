"""Per-request GraphQL context: the caller and request-scoped DataLoaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from kopano.errors import Unauthenticated
from kopano.web import RequestContext
from opportunities.domain.model import Application, Opportunity
from opportunities.service import OpportunityService


@dataclass
class OpportunitiesContext:
    base: RequestContext
    service: OpportunityService
    opportunity_loader: DataLoader[uuid.UUID, Opportunity | None] = field(init=False)
    application_loader: DataLoader[uuid.UUID, Application | None] = field(init=False)
    matching_count_loader: DataLoader[Opportunity, int | None] = field(init=False)
    my_application_loader: DataLoader[uuid.UUID, Application | None] = field(init=False)
    _official_of: frozenset[uuid.UUID] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # New loaders per request: batching within one request, no cross-request cache.
        self.opportunity_loader = DataLoader(load_fn=self._load_opportunities)
        self.application_loader = DataLoader(load_fn=self._load_applications)
        self.matching_count_loader = DataLoader(
            load_fn=self._load_matching_counts, cache_key_fn=lambda o: o.id
        )
        self.my_application_loader = DataLoader(load_fn=self._load_my_applications)

    def viewer_id(self) -> uuid.UUID | None:
        """The signed-in member, None when anonymous; a bad or expired token raises."""
        if self.base.auth_error is not None:
            raise self.base.auth_error
        principal = self.base.principal
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

    async def official_of(self) -> frozenset[uuid.UUID]:
        """Organisations the caller is an official of (once per request)."""
        if self._official_of is None:
            viewer = self.viewer_id()
            self._official_of = (
                await self.service.official_of(viewer) if viewer is not None else frozenset()
            )
        return self._official_of

    async def _load_opportunities(self, ids: list[uuid.UUID]) -> list[Opportunity | None]:
        found = await self.service.visible(self.viewer_id(), ids)
        return [found.get(i) for i in ids]

    async def _load_applications(self, ids: list[uuid.UUID]) -> list[Application | None]:
        found = await self.service.applications_visible(self.viewer_id(), ids)
        return [found.get(i) for i in ids]

    async def _load_matching_counts(self, opps: list[Opportunity]) -> list[int | None]:
        found = await self.service.matching_member_counts(self.viewer_id(), opps)
        return [found.get(o.id) for o in opps]

    async def _load_my_applications(self, ids: list[uuid.UUID]) -> list[Application | None]:
        viewer = self.viewer_id()
        if viewer is None:
            return [None] * len(ids)
        found = await self.service.my_applications(viewer, ids)
        return [found.get(i) for i in ids]
