"""Opportunity rules: posting rights, kind-specific fields, applications and matching."""

import uuid
from datetime import UTC, date, datetime

import pytest

from opportunities.domain.model import (
    Amount,
    Application,
    ApplicationStatus,
    EmploymentType,
    InvalidInput,
    InvalidState,
    InvestmentDetails,
    JobDetails,
    Location,
    MemberProfile,
    NotAllowed,
    Opportunity,
    OpportunityDetails,
    OpportunityKind,
    OpportunityStatus,
    SearchCriteria,
    check_may_post,
    match_score,
    may_see_application,
    normalise_skills,
    validate_application,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ORG = uuid.uuid4()


def details(**overrides: object) -> OpportunityDetails:
    fields: dict[str, object] = {
        "kind": OpportunityKind.JOB,
        "title": "Civil engineer, Polihali dam",
        "description": "Lesotho Highlands Water Project phase II.",
        "organisation_id": ORG,
        "location": Location.create(country="ls", city="Mokhotlong", remote=False),
        "sector": "construction",
        "skills": normalise_skills(["Civil Engineering", "AutoCAD"]),
        "languages": ("st", "en"),
        "deadline": date(2027, 1, 31),
        "job": JobDetails(
            EmploymentType.FULL_TIME, Amount(40_000_00, "LSL"), Amount(60_000_00, "LSL")
        ),
    }
    fields.update(overrides)
    return OpportunityDetails(**fields)  # type: ignore[arg-type]


def test_only_officials_of_verified_organisations_post() -> None:
    check_may_post(ORG, official_of=frozenset({ORG}), verified=frozenset({ORG}))
    with pytest.raises(NotAllowed, match="verified"):
        check_may_post(ORG, official_of=frozenset({ORG}), verified=frozenset())
    with pytest.raises(NotAllowed, match="official"):
        check_may_post(ORG, official_of=frozenset(), verified=frozenset({ORG}))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": " "}, "title"),
        ({"job": None}, "job"),
        (
            {"job": JobDetails(EmploymentType.CONTRACT, Amount(9, "LSL"), Amount(1, "LSL"))},
            "job.salaryMax",
        ),
        ({"kind": OpportunityKind.TENDER, "deadline": None}, "deadline"),
        (
            {
                "kind": OpportunityKind.INVESTMENT,
                "investment": InvestmentDetails(
                    "agriculture", Amount(100, "LSL"), Amount(200, "LSL")
                ),
            },
            "investment.minimumTicket",
        ),
    ],
)
def test_kind_specific_rules(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        details(**overrides)
    assert error.value.field == field


def test_amounts_are_integer_minor_units_with_a_real_currency() -> None:
    with pytest.raises(InvalidInput):
        Amount(10.5, "LSL")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Amount(100, "XXQ")


def test_location_needs_a_country_unless_remote() -> None:
    assert Location.create(country=None, city=None, remote=True).remote
    with pytest.raises(InvalidInput):
        Location.create(country=None, city="Maseru", remote=False)
    with pytest.raises(InvalidInput):
        Location.create(country="QQ", city=None, remote=False)


def test_life_cycle_and_deadline() -> None:
    opportunity = Opportunity(uuid.uuid4(), details(), OpportunityStatus.DRAFT, uuid.uuid4(), NOW)
    assert not opportunity.accepts_applications(date(2026, 12, 1))
    opportunity.move_to(OpportunityStatus.OPEN, at=NOW)
    assert opportunity.accepts_applications(date(2027, 1, 31))
    assert not opportunity.accepts_applications(date(2027, 2, 1))
    opportunity.move_to(OpportunityStatus.CLOSED, at=NOW)
    assert not opportunity.accepts_applications(date(2026, 12, 1))
    with pytest.raises(InvalidState):
        opportunity.move_to(OpportunityStatus.OPEN, at=NOW)


def test_application_review_and_withdrawal() -> None:
    applicant = uuid.uuid4()
    application = Application(
        uuid.uuid4(),
        uuid.uuid4(),
        applicant,
        "I built bridges in Durban",
        (),
        ApplicationStatus.SUBMITTED,
        NOW,
    )
    application.review(ApplicationStatus.SHORTLISTED, at=NOW)
    with pytest.raises(NotAllowed):
        application.withdraw(uuid.uuid4(), opportunity_open=True, at=NOW)
    with pytest.raises(InvalidState):
        application.withdraw(applicant, opportunity_open=False, at=NOW)
    application.review(ApplicationStatus.ACCEPTED, at=NOW)
    with pytest.raises(InvalidState):
        application.review(ApplicationStatus.REJECTED, at=NOW)
    official = uuid.uuid4()
    assert may_see_application(application, official, officials=frozenset({official}))
    assert not may_see_application(application, uuid.uuid4(), officials=frozenset({official}))


def test_application_input() -> None:
    assert validate_application("  Hello ", ["https://cv.example/me", " "]) == (
        "Hello",
        ("https://cv.example/me",),
    )
    with pytest.raises(InvalidInput):
        validate_application("", [])
    with pytest.raises(InvalidInput):
        validate_application("hi", ["javascript:alert(1)"])


def test_matching_ranks_by_skill_overlap() -> None:
    engineer = MemberProfile(
        uuid.uuid4(), frozenset({"civil-engineering", "autocad"}), "construction", "ZA"
    )
    nurse = MemberProfile(uuid.uuid4(), frozenset({"nursing"}), "health", "GB")
    job = details()
    assert match_score(engineer, job) > match_score(nurse, job) == 0
    assert SearchCriteria(
        kinds=frozenset({OpportunityKind.JOB}), skills=frozenset({"autocad"})
    ).matches(job)
    assert not SearchCriteria(country="ZA").matches(job)
