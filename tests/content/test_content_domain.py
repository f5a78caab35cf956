"""Content rules: post life cycle, permissions, Markdown safety, comments, reactions, RSVPs."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from content.domain.engagement import (
    ReactionKind,
    new_comment,
    reaction_count_changes,
)
from content.domain.errors import InvalidInput, InvalidState, NotAllowed
from content.domain.gatherings import (
    Attendance,
    GatheringDetails,
    Place,
    attendance_on_request,
)
from content.domain.markdown import MAX_BODY_CHARS, render_html, validate_body
from content.domain.posts import (
    Author,
    Language,
    PostDraft,
    PostKind,
    PostStatus,
    archive,
    edit_post,
    moderate,
    new_post,
    normalise_tags,
    visible_to,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ORG = uuid.uuid4()
MEMBER = Author(uuid.uuid4())
OFFICIAL = Author(uuid.uuid4(), official_of=frozenset({ORG}))
MODERATOR = Author(uuid.uuid4(), roles=frozenset({"moderator"}))


def draft(**overrides: object) -> PostDraft:
    fields: dict[str, object] = {
        "kind": PostKind.NEWS_DIASPORA,
        "title": "Letšolo la Basotho ba Gauteng",
        "body": "Kopano ea **selemo** e tla ba ka la 12.",
        "language": Language.SESOTHO,
    }
    fields.update(overrides)
    return PostDraft.create(**fields)  # type: ignore[arg-type]


def test_member_posts_go_to_moderation_and_officials_publish_directly() -> None:
    queued = new_post(MEMBER, draft(), at=NOW, submit=True)
    assert queued.status is PostStatus.SUBMITTED
    direct = new_post(OFFICIAL, draft(organisation_id=ORG), at=NOW, submit=True)
    assert direct.status is PostStatus.PUBLISHED
    assert direct.published_at == NOW
    assert new_post(MODERATOR, draft(), at=NOW, submit=True).status is PostStatus.PUBLISHED


def test_member_cannot_post_for_an_organisation_they_do_not_officiate_for() -> None:
    with pytest.raises(NotAllowed):
        new_post(MEMBER, draft(organisation_id=ORG), at=NOW, submit=True)


def test_moderation_needs_a_moderator_and_a_reason_to_reject() -> None:
    post = new_post(MEMBER, draft(), at=NOW, submit=True)
    with pytest.raises(NotAllowed):
        moderate(post, MEMBER, approve=True, reason=None, at=NOW)
    with pytest.raises(InvalidInput):
        moderate(post, MODERATOR, approve=False, reason="  ", at=NOW)
    moderate(post, MODERATOR, approve=False, reason="Duplicate of another notice", at=NOW)
    assert post.status is PostStatus.REJECTED
    assert not visible_to(post, None)
    assert visible_to(post, MEMBER)
    with pytest.raises(InvalidState):
        moderate(post, MODERATOR, approve=True, reason=None, at=NOW)


def test_editing_is_for_the_author_and_checks_the_version() -> None:
    post = new_post(MEMBER, draft(), at=NOW, submit=False)
    with pytest.raises(NotAllowed):
        edit_post(post, OFFICIAL, draft(), at=NOW, expected_version=None)
    with pytest.raises(InvalidState):
        edit_post(post, MEMBER, draft(), at=NOW, expected_version=post.version + 1)
    edit_post(post, MEMBER, draft(title="New title"), at=NOW, expected_version=post.version)
    assert post.content.title == "New title"
    assert post.version == 2
    archive(post, MEMBER, at=NOW)
    with pytest.raises(InvalidState):
        edit_post(post, MEMBER, draft(), at=NOW, expected_version=None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"body": "x" * (MAX_BODY_CHARS + 1)}, "body"),
        ({"body": "hello <script>alert(1)</script>"}, "body"),
        ({"body": "[click](javascript:alert(1))"}, "body"),
        ({"body": '<img src=x onerror="alert(1)">'}, "body"),
        ({"cover_image_url": "http://insecure.example/a.png"}, "coverImageUrl"),
        ({"tags": [f"tag{i}" for i in range(11)]}, "tags"),
    ],
)
def test_bad_post_input_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        draft(**overrides)
    assert error.value.field == field


def test_tags_are_normalised_and_deduplicated() -> None:
    assert normalise_tags(["Burial Society", "burial-society", " Maseru ", ""]) == (
        "burial-society",
        "maseru",
    )


def test_rendered_html_never_runs_anything_stored() -> None:
    html = render_html("# Pitso\n\n<b onclick='x()'>raw</b> [site](https://gov.ls)")
    assert "<h1>Pitso</h1>" in html
    # The raw tag is shown as text, never as an element.
    assert "<b" not in html
    assert "&lt;b onclick" in html
    assert 'rel="nofollow noopener noreferrer"' in html
    assert validate_body("Plain **Markdown** is fine") == "Plain **Markdown** is fine"


def test_comments_thread_one_level() -> None:
    post_id = uuid.uuid4()
    top = new_comment(MEMBER, post_id=post_id, body="Re a leboha", parent=None, at=NOW)
    reply = new_comment(OFFICIAL, post_id=post_id, body="Ke kopano", parent=top, at=NOW)
    assert reply.parent_id == top.id
    with pytest.raises(InvalidInput):
        new_comment(MEMBER, post_id=post_id, body="deeper", parent=reply, at=NOW)
    with pytest.raises(InvalidInput):
        new_comment(MEMBER, post_id=uuid.uuid4(), body="elsewhere", parent=top, at=NOW)
    with pytest.raises(InvalidInput):
        new_comment(MEMBER, post_id=post_id, body="  ", parent=None, at=NOW)


def test_reaction_changes_keep_counts_consistent() -> None:
    assert reaction_count_changes(None, ReactionKind.LIKE) == {"LIKE": 1}
    assert reaction_count_changes(ReactionKind.LIKE, ReactionKind.LOVE) == {"LIKE": -1, "LOVE": 1}
    assert reaction_count_changes(ReactionKind.LOVE, None) == {"LOVE": -1}
    assert reaction_count_changes(ReactionKind.LOVE, ReactionKind.LOVE) == {}


def gathering(**overrides: object) -> GatheringDetails:
    fields: dict[str, object] = {
        "title": "Mokete oa Moshoeshoe, Johannesburg",
        "description": "Come with family.",
        "starts_at": NOW + timedelta(days=30),
        "ends_at": NOW + timedelta(days=30, hours=5),
        "time_zone": "Africa/Johannesburg",
        "place": Place("Johannesburg", "za"),
        "online_url": None,
        "organiser_member_id": None,
        "organiser_organisation_id": ORG,
        "capacity": 2,
    }
    fields.update(overrides)
    return GatheringDetails.create(**fields)  # type: ignore[arg-type]


def test_gathering_validation() -> None:
    assert gathering().place == Place("Johannesburg", "ZA")
    with pytest.raises(InvalidInput, match="after the start"):
        gathering(ends_at=NOW)
    with pytest.raises(InvalidInput, match="time zone"):
        gathering(time_zone="Lesotho/Maseru")
    with pytest.raises(InvalidInput, match="place or an online link"):
        gathering(place=None)
    with pytest.raises(InvalidInput, match="country"):
        gathering(place=Place("Maseru", "XX"))
    assert gathering(place=None, online_url="https://meet.example/pitso").online_url


def test_full_gathering_waitlists() -> None:
    assert attendance_on_request(Attendance.GOING, going=1, capacity=2) is Attendance.GOING
    assert attendance_on_request(Attendance.GOING, going=2, capacity=2) is Attendance.WAITLISTED
    assert (
        attendance_on_request(Attendance.INTERESTED, going=2, capacity=2) is Attendance.INTERESTED
    )
    assert attendance_on_request(Attendance.GOING, going=10_000, capacity=None) is Attendance.GOING
