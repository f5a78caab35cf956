"""Per-request GraphQL context: the caller (verified by the kit, resolved lazily to an
`Author`) and request-scoped DataLoaders for batched entity and per-viewer lookups."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from content.adapters.documents import Doc
from content.domain.engagement import ReactionKind
from content.domain.gatherings import Attendance
from content.domain.posts import Author, Post
from content.service import ContentService
from kopano.errors import Unauthenticated
from kopano.web import RequestContext


@dataclass
class ContentContext:
    base: RequestContext
    service: ContentService
    post_loader: DataLoader[uuid.UUID, Post | None] = field(init=False)
    event_loader: DataLoader[uuid.UUID, Doc | None] = field(init=False)
    my_reaction_loader: DataLoader[uuid.UUID, ReactionKind | None] = field(init=False)
    my_rsvp_loader: DataLoader[uuid.UUID, Attendance | None] = field(init=False)
    _author: Author | None = field(default=None, init=False)
    _author_loaded: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        # New loaders per request: batching within one request, no cross-request cache.
        self.post_loader = DataLoader(load_fn=self._load_posts)
        self.event_loader = DataLoader(load_fn=self._load_events)
        self.my_reaction_loader = DataLoader(load_fn=self._load_my_reactions)
        self.my_rsvp_loader = DataLoader(load_fn=self._load_my_rsvps)

    async def _load_posts(self, ids: list[uuid.UUID]) -> list[Post | None]:
        found = await self.service.posts_by_ids(ids)
        return [found.get(i) for i in ids]

    async def _load_events(self, ids: list[uuid.UUID]) -> list[Doc | None]:
        found = await self.service.events_by_ids(ids)
        return [found.get(i) for i in ids]

    async def _load_my_reactions(self, ids: list[uuid.UUID]) -> list[ReactionKind | None]:
        viewer = await self.viewer()
        if viewer is None:
            return [None] * len(ids)
        found = await self.service.my_reactions(viewer.member_id, ids)
        return [found.get(i) for i in ids]

    async def _load_my_rsvps(self, ids: list[uuid.UUID]) -> list[Attendance | None]:
        viewer = await self.viewer()
        if viewer is None:
            return [None] * len(ids)
        found = await self.service.my_rsvps(viewer.member_id, ids)
        return [found.get(i) for i in ids]

    async def viewer(self) -> Author | None:
        """The caller, None when anonymous; a bad or expired token raises."""
        if self.base.auth_error is not None:
            raise self.base.auth_error
        if not self._author_loaded:
            self._author = await self.service.author_for(self.base.principal)
            self._author_loaded = True
        return self._author

    async def author(self) -> Author:
        viewer = await self.viewer()
        if viewer is None:
            raise Unauthenticated("You must be signed in.")
        return viewer
