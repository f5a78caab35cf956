"""Structured logs: JSON lines, request ids, and no credentials in any line."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kopano.logging import (
    RequestIdMiddleware,
    configure_logging,
    current_request_id,
    get_logger,
    redact,
)

JWT = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImFiYyJ9."
    "eyJzdWIiOiJtZW1iZXItMSIsImV4cCI6MTcwMDAwMDAwMH0."
    "c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)


@pytest.fixture
def json_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    configure_logging("logtest", "DEBUG", json_logs=True)
    yield buffer
    configure_logging("logtest", "INFO", json_logs=True)


def lines(buffer: io.StringIO, logger: str = "kopano.test") -> list[dict[str, Any]]:
    # Only this test's logger: servers warming up on background threads log too.
    parsed = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return [line for line in parsed if line.get("logger") == logger]


def test_json_lines_with_service_level_and_time(json_output: io.StringIO) -> None:
    get_logger("kopano.test").info("member.registered", member_id="m-1", country="ZA")
    (line,) = lines(json_output)
    assert line["event"] == "member.registered"
    assert line["member_id"] == "m-1"
    assert line["level"] == "info"
    assert line["service"] == "logtest"
    assert line["logger"] == "kopano.test"
    assert line["timestamp"].endswith("Z")


def test_stdlib_loggers_share_the_format(json_output: io.StringIO) -> None:
    logging.getLogger("some.library").warning("disk %s full", "/var")
    (line,) = lines(json_output, logger="some.library")
    assert line["event"] == "disk /var full"
    assert line["level"] == "warning"
    assert line["service"] == "logtest"


def test_credentials_never_logged(json_output: io.StringIO) -> None:
    log = get_logger("kopano.test")
    log.info(
        "login.attempt",
        email="thabo@example.org",
        password="hunter2-lesotho",
        access_token=JWT,
        refresh_token="opaque-refresh-secret",
        headers={"Authorization": f"Bearer {JWT}", "accept": "application/json"},
        note=f"client sent {JWT} in a query string",
        token_id="jti-123",
    )
    log.info(f"Authorization: Bearer {JWT}")
    output = json_output.getvalue()
    for secret in ("hunter2-lesotho", JWT, "opaque-refresh-secret", "c2lnbmF0dXJl"):
        assert secret not in output
    first, second = lines(json_output)
    assert first["email"] == "thabo@example.org"
    assert first["password"] == "[redacted]"
    assert first["headers"] == {"Authorization": "[redacted]", "accept": "application/json"}
    assert first["note"] == "client sent [redacted] in a query string"
    assert first["token_id"] == "jti-123"  # an identifier, not a credential
    assert "[redacted]" in second["event"]


def check_password(password: str) -> None:
    hashed = "argon-" + password
    raise ValueError(f"cannot compare {len(hashed)} bytes")


def test_exceptions_are_structured_without_locals(json_output: io.StringIO) -> None:
    secret = f"pw-{uuid.uuid4().hex}"  # built at run time: not in any source line
    try:
        check_password(secret)
    except ValueError:
        get_logger("kopano.test").exception("job.failed")
    (line,) = lines(json_output)
    assert line["event"] == "job.failed"
    assert line["exception"][0]["exc_type"] == "ValueError"
    assert secret not in json_output.getvalue()


def test_dev_tracebacks_without_locals(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    configure_logging("logtest", "INFO", json_logs=False)
    secret = f"pw-{uuid.uuid4().hex}"
    try:
        try:
            check_password(secret)
        except ValueError:
            get_logger("kopano.test").exception("job.failed")
    finally:
        configure_logging("logtest", "INFO", json_logs=True)
    assert "check_password" in buffer.getvalue()
    assert secret not in buffer.getvalue()


def test_redact_processor_directly() -> None:
    event = redact(
        None,
        "info",
        {"event": "x", "client_secret": "s", "nested": [{"password": "p"}], "n": 3},
    )
    assert event == {
        "event": "x",
        "client_secret": "[redacted]",
        "nested": [{"password": "[redacted]"}],
        "n": 3,
    }


async def test_request_id_middleware_binds_and_echoes(json_output: io.StringIO) -> None:
    seen: list[str | None] = []

    async def endpoint(request: Request) -> JSONResponse:
        seen.append(current_request_id())
        get_logger("kopano.test").info("inside.request")
        return JSONResponse({"state": request.state.request_id})

    app = RequestIdMiddleware(Starlette(routes=[Route("/", endpoint)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/", headers={"X-Request-Id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"
        assert response.json() == {"state": "abc-123"}
        response = await c.get("/")
        generated = response.headers["x-request-id"]
        assert len(generated) == 32
        response = await c.get("/", headers={"X-Request-Id": "bad id\twith spaces"})
        assert response.headers["x-request-id"] != "bad id\twith spaces"

    assert seen[:2] == ["abc-123", generated]
    assert current_request_id() is None  # nothing leaks out of the request
    logged = [line for line in lines(json_output) if line["event"] == "inside.request"]
    assert [line["request_id"] for line in logged[:2]] == ["abc-123", generated]


def test_console_renderer_in_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    configure_logging("logtest", "INFO", json_logs=False)
    try:
        get_logger("kopano.test").info("hello.dev", password="pw-should-hide")
    finally:
        configure_logging("logtest", "INFO", json_logs=True)
    text = buffer.getvalue()
    assert "hello.dev" in text
    assert "pw-should-hide" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("terminal", "env", "coloured"),
    [
        (True, {}, True),
        (False, {}, False),  # a file or a pipe gets no escape codes
        (True, {"NO_COLOR": "1"}, False),
        (False, {"FORCE_COLOR": "1"}, True),
        (True, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ],
)
def test_dev_console_colours_follow_the_terminal_and_no_color(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, env: dict[str, str], coloured: bool
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    buffer = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    configure_logging("logtest", "INFO", json_logs=False)
    try:
        get_logger("kopano.test").info("hello.colours")
    finally:
        configure_logging("logtest", "INFO", json_logs=True)
    assert "hello.colours" in buffer.getvalue()
    assert ("\x1b[" in buffer.getvalue()) is coloured
