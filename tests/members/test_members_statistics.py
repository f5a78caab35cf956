"""Public statistics: small cells are suppressed and never named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from members_gql import PASSWORD, gql, make_settings, unique_email
from starlette.applications import Starlette

from members.app import create_app
from members.domain import model
from members.domain.statistics import Breakdown, Cell, suppress

STATS = """
{ diasporaStatistics {
    minimumCellSize totalMembers countries
    byCountry { cells { key label count } otherCount }
    byDistrictOfOrigin { cells { key label count } otherCount }
    bySector { cells { key count } otherCount }
    bySkill { cells { key count } otherCount }
    registrationsByMonth { cells { key count } otherCount }
} }
"""


def test_suppress_rules() -> None:
    counts = {"ZA": 12, "GB": 5, "US": 4, "BW": 1}
    assert suppress(counts, 5) == Breakdown((Cell("ZA", 12), Cell("GB", 5)), other_count=5)
    assert suppress({"ZA": 12, "US": 4}, 5) == Breakdown((Cell("ZA", 12),), other_count=None)
    assert suppress({}, 5) == Breakdown((), None)
    assert suppress({"b": 9, "a": 9, "c": 7}, 5, limit=2).cells == (Cell("a", 9), Cell("b", 9))
    assert suppress({"b": 9, "a": 9, "c": 7}, 5, limit=2).other_count == 7
    assert suppress({"2026-02": 6, "2026-01": 9}, 5, by_key=True).cells[0].key == "2026-01"
    with pytest.raises(ValueError):
        suppress(counts, 0)


@pytest.fixture
async def stats_app(migrated_database_url: str, signing_key_pem: str) -> AsyncIterator[Starlette]:
    app = create_app(make_settings(migrated_database_url, signing_key_pem))
    async with app.router.lifespan_context(app):
        yield app


async def add_member(
    app: Starlette, country: str, district: str | None = None, profile: dict[str, Any] | None = None
) -> model.Member:
    services = app.state.members.services
    member: model.Member = await services.accounts.register(
        model.RegistrationInput(
            email=unique_email(),
            password=PASSWORD,
            full_name="Stats Person",
            country_of_residence=country,
            accept_terms=True,
            accept_data_processing=True,
            district_of_origin=district,
        )
    )
    if profile:
        from kopano.auth import Principal

        principal = Principal(subject=str(member.id))
        member = await services.accounts.update_profile(principal, profile)
    return member


async def stats(app: Starlette) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://members.test") as client:
        body = await gql(client, STATS)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]["diasporaStatistics"]
    return data


async def test_small_cells_are_suppressed_and_never_named(stats_app: Starlette) -> None:
    few = await stats(stats_app)
    assert few["totalMembers"] is None  # an empty platform says nothing either

    for _ in range(6):
        await add_member(stats_app, "ZA", "LS-A", {"skills": ["nursing"], "sector": "HEALTH"})
    await add_member(stats_app, "ZA", "LS-B", {"skills": ["nursing"]})
    for _ in range(3):
        await add_member(stats_app, "GB")
    await add_member(stats_app, "US", "LS-K")
    # Skills kept private are not counted.
    from kopano.auth import Principal

    secretive = await add_member(stats_app, "ZA", "LS-A", {"skills": ["nursing"]})
    await stats_app.state.members.services.accounts.set_visibility(
        Principal(subject=str(secretive.id)), {"skills": model.Visibility.PRIVATE}
    )

    data = await stats(stats_app)
    assert data["minimumCellSize"] == 5
    assert data["totalMembers"] == 12
    assert data["countries"] == 3
    assert data["byCountry"] == {
        "cells": [{"key": "ZA", "label": "South Africa", "count": 8}],
        "otherCount": None,  # GB 3 + US 1 = 4: too small even together
    }
    assert data["byDistrictOfOrigin"] == {
        "cells": [{"key": "LS-A", "label": "Maseru", "count": 7}],
        "otherCount": None,
    }
    assert data["bySector"]["cells"] == [{"key": "HEALTH", "count": 6}]
    assert data["bySkill"]["cells"] == [{"key": "nursing", "count": 7}]
    month = datetime.now(UTC).strftime("%Y-%m")
    assert data["registrationsByMonth"]["cells"] == [{"key": month, "count": 12}]
    flat = orjson.dumps(data).decode()
    for small in ("GB", "US", "LS-B", "LS-K", "United Kingdom", "Leribe"):
        assert small not in flat

    # One more member in GB: the suppressed remainder (5) may now be shown as one total.
    await add_member(stats_app, "GB")
    data = await stats(stats_app)
    assert data["byCountry"]["otherCount"] == 5
    assert "GB" not in orjson.dumps(data).decode()
