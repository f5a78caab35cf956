"""The platform's event catalogue as an AsyncAPI 3.0 document, built from the services' code.

Subscribers (ministries' systems, the central bank) generate clients and check contracts from
``docs/events/asyncapi.json``; it is derived, never edited by hand:

    python -m kopano.asyncapi members content opportunities payments          # print
    python -m kopano.asyncapi --write docs/events/asyncapi.json members ...   # regenerate

Conventions it relies on (the same ones the services follow): service ``<name>`` declares its
event types as string constants in ``<name>.events``; each type has a JSON Schema
``<type>.schema.json`` for its ``data`` in the schema directory, whose description names its
topic and record key (``Topic members.member, key = memberId``); events go out as CloudEvents
in Kafka binary mode.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
DEFAULT_SCHEMA_DIR = Path("docs/events")

_EVENT_TYPE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
_TOPIC_AND_KEY = re.compile(r"Topic ([a-z][a-z_.]*[a-z]), key = ([A-Za-z]+)")

_DESCRIPTION = (
    "Domain events of the Kopano platform. Every event is a CloudEvents 1.0 event in the Kafka "
    "protocol binding's binary mode: the attributes are `ce_*` record headers, the record value "
    "is the event's `data` (JSON), the record key is the aggregate id. Delivery is at least "
    "once: deduplicate by `ce_id`. Events about one aggregate are on one partition, in order. "
    "Events carry ids, codes and amounts, never names, e-mail addresses or phone numbers. "
    "See docs/events/README.md."
)


class CatalogueError(ValueError):
    """A schema that does not say where its events go."""


@dataclass(frozen=True, order=True)
class EventType:
    service: str
    name: str  # e.g. member.registered
    topic: str
    key: str  # the data field whose value is the record key


def discover(services: Sequence[str], schema_dir: Path) -> list[EventType]:
    """Every event type the services' ``events`` modules declare that has a schema."""
    found: set[EventType] = set()
    for service in services:
        module = importlib.import_module(f"{service}.events")
        for attribute, value in vars(module).items():
            if not (attribute.isupper() and isinstance(value, str) and _EVENT_TYPE.match(value)):
                continue
            path = schema_dir / f"{value}.schema.json"
            if not path.is_file():
                continue
            description = orjson.loads(path.read_bytes()).get("description", "")
            match = _TOPIC_AND_KEY.search(description if isinstance(description, str) else "")
            if match is None:
                raise CatalogueError(f"{path.name}: the description names no 'Topic …, key = …'")
            found.add(EventType(service, value, match[1], match[2]))
    return sorted(found)


def _headers(event: EventType) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": {
                "type": "string",
                "format": "uuid",
                "description": "Unique per event, the same on every redelivery: deduplicate by it.",
            },
            "ce_source": {"type": "string", "const": f"/kopano/{event.service}"},
            "ce_type": {"type": "string", "const": event.name},
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "When it happened (RFC 3339, UTC, microseconds).",
            },
            "ce_subject": {
                "type": "string",
                "description": f"What it is about: the `{event.key}` of the data (the record key).",
            },
            "content-type": {"type": "string", "const": "application/json"},
        },
    }


def component_id(name: str) -> str:
    """`member.profile_updated` → `memberProfileUpdated`: ids every AsyncAPI tool accepts
    (some refuse dots in component keys); the real names stay in `name` and `address`."""
    first, *rest = re.split(r"[._]", name)
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _title(schema: dict[str, Any], event: EventType) -> str:
    title = schema.get("title")
    return str(title) if isinstance(title, str) else event.name


def build(services: Sequence[str], schema_dir: Path = DEFAULT_SCHEMA_DIR) -> dict[str, Any]:
    """The AsyncAPI document for the event types the services publish."""
    events = discover(services, schema_dir)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event in events:
        schema = orjson.loads((schema_dir / f"{event.name}.schema.json").read_bytes())
        message: dict[str, Any] = {
            "name": event.name,
            "title": _title(schema, event),
            "contentType": "application/json",
            "headers": _headers(event),
            "payload": {
                "schemaFormat": SCHEMA_FORMAT,
                "schema": {"$ref": f"./{event.name}.schema.json"},
            },
            "bindings": {
                "kafka": {
                    "key": {
                        "type": "string",
                        "description": f"The `{event.key}` of the data (UTF-8).",
                    },
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        message["description"] = schema["description"]
        message_id = component_id(event.name)
        messages[message_id] = message
        channel = channels.setdefault(
            component_id(event.topic),
            {
                "address": event.topic,
                "title": event.topic,
                "description": (
                    f"Published by the {event.service} service. Events with one key share a "
                    "partition and arrive in the order they happened."
                ),
                "messages": {},
                "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION}},
            },
        )
        channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
    for channel_id, channel in channels.items():
        operations[component_id(f"publish.{channel['address']}")] = {
            "action": "send",
            "title": f"Publish on {channel['address']}",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{message_id}"}
                for message_id in channel["messages"]
            ],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Kopano events",
            "version": "1.0.0",
            "description": _DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kopano.asyncapi", description=__doc__)
    parser.add_argument("services", nargs="+", help="service packages, e.g. members content")
    parser.add_argument("--schemas", type=Path, default=DEFAULT_SCHEMA_DIR)
    parser.add_argument("--write", type=Path, help="write the document here instead of stdout")
    args = parser.parse_args(argv)
    text = render(build(args.services, args.schemas))
    if args.write is None:
        sys.stdout.buffer.write(text)
    else:
        args.write.write_bytes(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
