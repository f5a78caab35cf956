"""CloudEvents 1.0 envelope and its Kafka binary-mode binding.

On Kafka an event travels as: key = the aggregate id (also the CloudEvents `subject`),
value = the JSON `data` only, and the envelope attributes as `ce_*` headers plus
`content-type`. Keying by aggregate id keeps every event of one aggregate on one
partition, so consumers see them in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

__all__ = [
    "CONTENT_TYPE_JSON",
    "CloudEvent",
    "EventSchemaError",
    "EventSchemas",
    "InvalidEvent",
    "aggregate_topic",
    "encode_data",
    "format_time",
    "from_kafka_record",
    "header_strings",
    "kafka_headers",
    "parse_time",
    "to_kafka_record",
]

CONTENT_TYPE_JSON = "application/json"
SPEC_VERSION = "1.0"

# The attributes that have their own dataclass field; any other `ce_*` header is an extension.
_CORE_HEADERS = frozenset(
    {"ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject"}
)


class InvalidEvent(ValueError):
    """A Kafka record that is not a well-formed binary-mode CloudEvent."""


class EventSchemaError(ValueError):
    """An event's `data` does not match its type's JSON Schema (or it has no schema)."""

    def __init__(self, event_type: str, message: str, path: str = "") -> None:
        super().__init__(f"{event_type}: {message}" + (f" (at {path})" if path else ""))
        self.event_type = event_type
        self.path = path


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, microsecond precision."""
    if value.tzinfo is None:
        raise ValueError("CloudEvent time must be timezone-aware")
    if value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat ends in "+00:00" for UTC; RFC 3339 allows it, CloudEvents examples use "Z".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (Python 3.11's fromisoformat accepts `Z`)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return parsed


def aggregate_topic(service: str, aggregate: str) -> str:
    """Topic naming rule: one topic per aggregate, `<service>.<aggregate>` (`members.member`)."""
    return f"{service}.{aggregate}"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """A CloudEvents 1.0 event whose `data` is a JSON object."""

    id: str
    source: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]
    specversion: str = SPEC_VERSION
    datacontenttype: str = CONTENT_TYPE_JSON
    # Extension attributes (e.g. `traceparent`), carried as `ce_<name>` headers.
    extensions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        type: str,
        source: str,
        subject: str,
        data: dict[str, Any],
        *,
        extensions: Mapping[str, str] | None = None,
    ) -> CloudEvent:
        """A fresh event: random UUID id, current UTC time."""
        return cls(
            id=str(uuid.uuid4()),
            source=source,
            type=type,
            subject=subject,
            time=datetime.now(UTC),
            data=data,
            extensions=dict(extensions or {}),
        )


def encode_data(event: CloudEvent) -> bytes:
    return orjson.dumps(event.data, option=orjson.OPT_UTC_Z)


def header_strings(event: CloudEvent) -> dict[str, str]:
    """The binary-mode headers as text (how the outbox stores them)."""
    headers = {
        "ce_specversion": event.specversion,
        "ce_id": event.id,
        "ce_source": event.source,
        "ce_type": event.type,
        "ce_time": format_time(event.time),
        "ce_subject": event.subject,
        "content-type": event.datacontenttype,
    }
    for name, value in event.extensions.items():
        headers[f"ce_{name}"] = value
    return headers


def kafka_headers(event: CloudEvent) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in header_strings(event).items()]


def to_kafka_record(event: CloudEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Binary mode: (key = subject, value = JSON data, headers = `ce_*` + content-type)."""
    return event.subject.encode(), encode_data(event), kafka_headers(event)


def from_kafka_record(
    key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]
) -> CloudEvent:
    """Rebuild the event from a binary-mode record; raises `InvalidEvent` if it is not one."""
    found: dict[str, str] = {}
    try:
        for name, raw in headers:
            found[name.lower()] = raw.decode() if raw is not None else ""
    except UnicodeDecodeError as exc:
        raise InvalidEvent("header is not UTF-8") from exc
    for required in ("ce_id", "ce_source", "ce_type", "ce_specversion"):
        if not found.get(required):
            raise InvalidEvent(f"missing header {required}")
    if found["ce_specversion"] != SPEC_VERSION:
        raise InvalidEvent(f"unsupported specversion {found['ce_specversion']!r}")
    content_type = found.get("content-type", CONTENT_TYPE_JSON)
    if not content_type.startswith(CONTENT_TYPE_JSON):
        raise InvalidEvent(f"unsupported content-type {content_type!r}")
    subject = found.get("ce_subject") or (key.decode(errors="replace") if key else "")
    try:
        time = parse_time(found["ce_time"]) if found.get("ce_time") else datetime.now(UTC)
    except ValueError as exc:
        raise InvalidEvent(f"bad ce_time: {exc}") from exc
    try:
        data = orjson.loads(value) if value else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEvent("body is not a JSON object")
    extensions = {
        name[3:]: val
        for name, val in found.items()
        if name.startswith("ce_") and name not in _CORE_HEADERS
    }
    return CloudEvent(
        id=found["ce_id"],
        source=found["ce_source"],
        type=found["ce_type"],
        subject=subject,
        time=time,
        data=data,
        specversion=SPEC_VERSION,
        datacontenttype=content_type,
        extensions=extensions,
    )


class EventSchemas:
    """JSON Schemas per event type, one file each: `<directory>/<type>.schema.json`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._validators: dict[str, Draft202012Validator] = {}

    @cached_property
    def _format_checker(self) -> FormatChecker:
        return FormatChecker()

    def path_for(self, event_type: str) -> Path:
        if "/" in event_type or "\\" in event_type or event_type.startswith("."):
            raise EventSchemaError(event_type, "not a valid event type name")
        return self.directory / f"{event_type}.schema.json"

    def known_types(self) -> list[str]:
        suffix = ".schema.json"
        return sorted(p.name[: -len(suffix)] for p in self.directory.glob(f"*{suffix}"))

    def validator(self, event_type: str) -> Draft202012Validator:
        cached = self._validators.get(event_type)
        if cached is not None:
            return cached
        path = self.path_for(event_type)
        if not path.is_file():
            raise EventSchemaError(event_type, f"no schema at {path}")
        schema = orjson.loads(path.read_bytes())
        cls = validator_for(schema, default=Draft202012Validator)
        cls.check_schema(schema)
        validator: Draft202012Validator = cls(schema, format_checker=self._format_checker)
        self._validators[event_type] = validator
        return validator

    def validate(self, event: CloudEvent) -> None:
        """Raise `EventSchemaError` unless `event.data` matches its type's schema."""
        error = best_match(self.validator(event.type).iter_errors(event.data))
        if error is not None:
            raise EventSchemaError(event.type, error.message, error.json_path)
