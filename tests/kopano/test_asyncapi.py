"""docs/events/asyncapi.json: current, complete, consistent with the services and the kit."""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from kopano.asyncapi import build, component_id, discover, main, render
from kopano.events import CloudEvent, header_strings

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "docs" / "events"
DOCUMENT = SCHEMAS / "asyncapi.json"
# Every service that publishes: a package with an `events` module.
SERVICES = sorted(
    path.parent.name
    for path in (REPO / "services").glob("*/src/*/events.py")
    if path.parent.name == path.parents[2].name
)
REGENERATE = (
    "regenerate: .tools/bin/uv run --no-sync python -m kopano.asyncapi "
    f"--write docs/events/asyncapi.json {' '.join(SERVICES)}"
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(DOCUMENT.read_bytes())
    return loaded


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    """Against the specification's own JSON Schema, Kafka bindings included."""
    spec = orjson.loads(
        (Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json").read_bytes()
    )
    validator = jsonschema.Draft7Validator(spec)
    assert [error.message for error in validator.iter_errors(document)] == []
    broken = orjson.loads(DOCUMENT.read_bytes())
    next(iter(broken["operations"].values()))["action"] = "publish"  # an AsyncAPI 2 verb
    assert not validator.is_valid(broken)


def test_services_are_found() -> None:
    assert SERVICES == ["content", "members", "opportunities", "payments"]


def test_the_committed_document_is_current() -> None:
    assert DOCUMENT.read_bytes() == render(build(SERVICES, SCHEMAS)), REGENERATE


def test_the_command_writes_what_build_returns(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    assert main(["--schemas", str(SCHEMAS), "--write", str(out), *SERVICES]) == 0
    assert out.read_bytes() == DOCUMENT.read_bytes()


def test_every_schema_is_one_published_message(document: dict[str, Any]) -> None:
    schema_types = {
        path.name.removesuffix(".schema.json") for path in SCHEMAS.glob("*.schema.json")
    }
    messages = document["components"]["messages"]
    assert sorted(message["name"] for message in messages.values()) == sorted(schema_types)
    in_channels = [
        _resolve(document, ref["$ref"])["name"]
        for channel in document["channels"].values()
        for ref in channel["messages"].values()
    ]
    assert sorted(in_channels) == sorted(schema_types)
    published = [
        _resolve(document, _resolve(document, ref["$ref"])["$ref"])["name"]
        for operation in document["operations"].values()
        for ref in operation["messages"]
    ]
    assert sorted(published) == sorted(schema_types)


@pytest.mark.parametrize("service", SERVICES)
def test_topics_and_source_are_the_ones_the_service_uses(service: str) -> None:
    """A schema's stated topic is one of its service's topic settings, on the naming rule."""
    settings_module = importlib.import_module(f"{service}.settings")
    (settings_class,) = [
        value
        for name, value in vars(settings_module).items()
        if name.endswith("Settings")
        and getattr(value, "__module__", "") == settings_module.__name__
    ]
    fields = settings_class.model_fields
    own_topics = {
        str(field.default)
        for name, field in fields.items()
        if name.endswith("_topic") and str(field.default).startswith(f"{service}.")
    }
    events = [event for event in discover(SERVICES, SCHEMAS) if event.service == service]
    assert events
    for event in events:
        assert event.topic in own_topics, (event.name, own_topics)
        assert event.topic == f"{service}.{event.name.split('.')[0]}"
    document = build(SERVICES, SCHEMAS)
    source = fields["event_source"].default
    for event in events:
        headers = document["components"]["messages"][component_id(event.name)]["headers"]
        assert headers["properties"]["ce_source"]["const"] == source


def test_the_record_key_is_a_required_field_of_the_data() -> None:
    for event in discover(SERVICES, SCHEMAS):
        schema = orjson.loads((SCHEMAS / f"{event.name}.schema.json").read_bytes())
        assert event.key in schema["required"], event.name
        assert schema["properties"][event.key]["type"] == "string", event.name


def _resolve(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        if ref.startswith("#/"):
            assert _resolve(document, ref) is not None, ref
        else:
            assert (SCHEMAS / ref).is_file(), ref


def test_the_kits_headers_satisfy_every_message(document: dict[str, Any]) -> None:
    """What the kit puts on a record is what the document promises subscribers."""
    for message in document["components"]["messages"].values():
        source = message["headers"]["properties"]["ce_source"]["const"]
        event = CloudEvent.new(message["name"], source, str(uuid.uuid4()), {})
        jsonschema.validate(header_strings(event), message["headers"])
        wrong = CloudEvent.new("some.other_type", source, str(uuid.uuid4()), {})
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(header_strings(wrong), message["headers"])
