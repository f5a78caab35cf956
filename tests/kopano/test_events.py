"""CloudEvents envelope: binary-mode Kafka binding and per-type JSON Schemas (pure unit tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from kopano.events import (
    CloudEvent,
    EventSchemaError,
    EventSchemas,
    InvalidEvent,
    aggregate_topic,
    format_time,
    from_kafka_record,
    to_kafka_record,
)


def _event(**data: object) -> CloudEvent:
    return CloudEvent.new(
        "member.registered",
        "/kopano/members",
        "4f6a3c1e-0000-4000-8000-000000000001",
        {"member_id": "4f6a3c1e-0000-4000-8000-000000000001", "country": "ZA", **data},
    )


def test_new_event_has_uuid_id_and_utc_time() -> None:
    event = _event()
    assert uuid.UUID(event.id).version == 4
    assert event.time.tzinfo is not None
    assert abs(datetime.now(UTC) - event.time) < timedelta(seconds=5)
    assert event.specversion == "1.0"
    assert event.datacontenttype == "application/json"
    assert _event().id != event.id


def test_binary_mode_record_carries_ce_headers_key_and_json_body() -> None:
    event = _event()
    key, value, headers = to_kafka_record(event)
    found = dict(headers)
    assert key == event.subject.encode()
    assert orjson.loads(value) == event.data
    assert found["ce_id"] == event.id.encode()
    assert found["ce_source"] == b"/kopano/members"
    assert found["ce_type"] == b"member.registered"
    assert found["ce_specversion"] == b"1.0"
    assert found["ce_subject"] == event.subject.encode()
    assert found["content-type"] == b"application/json"
    # RFC 3339, UTC, `Z` suffix.
    assert found["ce_time"].decode().endswith("Z")
    assert datetime.fromisoformat(found["ce_time"].decode()) == event.time


def test_envelope_round_trips_through_a_record() -> None:
    event = CloudEvent.new(
        "member.profile_updated",
        "/kopano/members",
        "m-1",
        {"skills": ["nursing", "sesotho"], "nested": {"n": 1, "ok": True, "none": None}},
        extensions={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    assert from_kafka_record(*to_kafka_record(event)) == event


def test_time_keeps_its_instant_across_offsets() -> None:
    maseru = timezone(timedelta(hours=2))
    event = CloudEvent(
        id="e-1",
        source="/s",
        type="t.x",
        subject="a",
        time=datetime(2026, 3, 1, 10, 30, 0, 123456, tzinfo=maseru),
        data={},
    )
    assert format_time(event.time) == "2026-03-01T08:30:00.123456Z"
    assert from_kafka_record(*to_kafka_record(event)).time == event.time


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_time(datetime(2026, 1, 1))


def test_subject_falls_back_to_the_key() -> None:
    event = _event()
    key, value, headers = to_kafka_record(event)
    without_subject = [(k, v) for k, v in headers if k != "ce_subject"]
    assert from_kafka_record(key, value, without_subject).subject == event.subject


@pytest.mark.parametrize(
    ("drop", "replace", "message"),
    [
        ("ce_id", None, "ce_id"),
        ("ce_type", None, "ce_type"),
        ("ce_source", None, "ce_source"),
        (None, ("ce_specversion", b"0.3"), "specversion"),
        (None, ("content-type", b"application/avro"), "content-type"),
        (None, ("ce_time", b"yesterday"), "ce_time"),
    ],
)
def test_malformed_records_are_rejected(
    drop: str | None, replace: tuple[str, bytes] | None, message: str
) -> None:
    key, value, headers = to_kafka_record(_event())
    headers = [(k, v) for k, v in headers if k != drop]
    if replace is not None:
        headers = [(k, replace[1] if k == replace[0] else v) for k, v in headers]
    with pytest.raises(InvalidEvent, match=message):
        from_kafka_record(key, value, headers)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_body_must_be_a_json_object(body: bytes) -> None:
    key, _, headers = to_kafka_record(_event())
    with pytest.raises(InvalidEvent):
        from_kafka_record(key, body, headers)


def test_topic_per_aggregate() -> None:
    assert aggregate_topic("members", "member") == "members.member"


@pytest.fixture
def schemas(tmp_path: Path) -> EventSchemas:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["member_id", "country"],
        "properties": {
            "member_id": {"type": "string"},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        },
        "additionalProperties": False,
    }
    (tmp_path / "member.registered.schema.json").write_bytes(orjson.dumps(schema))
    return EventSchemas(tmp_path)


def test_schema_accepts_valid_data(schemas: EventSchemas) -> None:
    schemas.validate(_event())
    assert schemas.known_types() == ["member.registered"]


def test_schema_rejects_invalid_data_with_the_path(schemas: EventSchemas) -> None:
    with pytest.raises(EventSchemaError, match="country"):
        schemas.validate(_event(country="South Africa"))
    with pytest.raises(EventSchemaError, match="email"):
        schemas.validate(_event(email="a@b.example"))


def test_event_type_without_a_schema_is_an_error(schemas: EventSchemas) -> None:
    event = CloudEvent.new("member.unknown", "/s", "x", {})
    with pytest.raises(EventSchemaError, match="no schema"):
        schemas.validate(event)
    with pytest.raises(EventSchemaError):
        schemas.validate(CloudEvent.new("../secrets", "/s", "x", {}))


def test_repository_event_schemas_are_valid_json_schemas() -> None:
    # Every schema kept in docs/events must itself be a valid schema.
    directory = Path(__file__).resolve().parents[2] / "docs" / "events"
    schemas = EventSchemas(directory)
    for event_type in schemas.known_types():
        schemas.validator(event_type)
