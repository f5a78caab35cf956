"""Shared GraphQL helpers: the context type, typed decorators, enums."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry
from strawberry.types import Info

from kopano.errors import BadUserInput
from members.context import MembersContext
from members.domain import model
from members.domain import organisations as orgs
from members.domain import values as v
from members.domain.visibility import field_visible

Sector = strawberry.enum(v.Sector, description="Economic sector of a member's work.")
EducationLevel = strawberry.enum(v.EducationLevel)
RoleEnum = strawberry.enum(model.Role, name="Role", description="Account roles.")
AccountStatus = strawberry.enum(model.MemberStatus, name="AccountStatus")
FieldVisibility = strawberry.enum(
    model.Visibility, name="Visibility", description="Who may see a profile field."
)

OrganisationKind = strawberry.enum(
    orgs.OrganisationType, name="OrganisationType", description="What kind of organisation."
)
JoinPolicy = strawberry.enum(orgs.JoinPolicy)
OrganisationRole = strawberry.enum(orgs.OrganisationRole)
MembershipStatus = strawberry.enum(orgs.MembershipStatus)

Ctx = Info[MembersContext, None]
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    """``strawberry.field`` with a description, typed for mypy (the overload is ``Any``)."""
    return cast(Callable[[F], F], strawberry.field(description=description))


def signed_in(description: str | None = None) -> Callable[[F], F]:
    """A field or mutation for signed-in callers only, marked ``@authenticated`` in the
    subgraph SDL so the gateway can refuse it before planning (the resolver still checks)."""
    return cast(
        Callable[[F], F],
        strawberry.federation.field(description=description, authenticated=True),
    )


def mutation(description: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.mutation(description=description))


async def visible(info: Ctx, member: model.Member, name: str, value: T) -> T | None:
    """The value when the viewer may see this field, else None (never a hint that it exists)."""
    if field_visible(member, name, await info.context.relation_to(member)):
        return value
    return None


def int_cursor(raw: strawberry.ID | None, field_name: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise BadUserInput("Invalid cursor.", field=field_name) from None
