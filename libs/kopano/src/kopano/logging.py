"""Structured logging: structlog everywhere, JSON outside dev, a request id per request.

Standard-library loggers (uvicorn, aiokafka, SQLAlchemy, ...) are routed through the
same processors, so a service writes one format. A redaction step removes anything
that looks like a credential before a line is rendered: keys such as ``password``,
``token`` or ``authorization`` are replaced, and JWT-shaped strings are cut out of
values.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID_HEADER",
    "RequestIdMiddleware",
    "configure_logging",
    "current_request_id",
    "get_logger",
    "redact",
]

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.encode("latin-1")
# Accept a caller's id only when it is short and plain, so it is safe to log and echo.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("kopano_request_id", default=None)

_SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "private_key",
    "signing_key",
    "credential",
)
# Identifiers of tokens are not the tokens themselves.
_SAFE_KEYS = frozenset({"token_id", "jti", "kid"})
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]+")
REDACTED = "[redacted]"


def current_request_id() -> str | None:
    """The id of the request being served in this task, if any."""
    return _request_id.get()


def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    if lowered in _SAFE_KEYS:
        return False
    return any(part in lowered for part in _SENSITIVE_KEY_PARTS)


def _redact_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        if "eyJ" in value:
            value = _JWT_LIKE.sub(REDACTED, value)
        if "earer" in value:
            value = _BEARER.sub("Bearer " + REDACTED, value)
        return value
    if depth >= 3:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if isinstance(k, str) and _is_sensitive_key(k)
            else _redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(v, depth + 1) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: never let credentials reach a log line."""
    for key, value in list(event_dict.items()):
        if _is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str | Mapping | list | tuple):
            event_dict[key] = _redact_value(value, 0)
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode("utf-8")


def console_colors(stream: Any) -> bool:
    """Colour in dev logs only on a terminal; NO_COLOR (no-color.org) turns it off and
    FORCE_COLOR on, whatever the stream."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(
    service_name: str,
    level: str | int = "INFO",
    json_logs: bool = True,
) -> None:
    """Configure structlog and the standard library once per process."""
    if isinstance(level, str):
        level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)

    def add_service(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service_name)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        redact,
    ]
    renderer: Any
    # Tracebacks never carry frame locals: a local may hold a password or a token.
    if json_logs:
        exception_step: Any = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    else:
        exception_step = structlog.dev.set_exc_info
        renderer = structlog.dev.ConsoleRenderer(
            colors=console_colors(sys.stdout), exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            exception_step,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    # uvicorn's own handlers would print a second, unstructured line.
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    # One structured line per request comes from kopano.web instead.
    logging.getLogger("uvicorn.access").disabled = True
    # kopano.errors logs unexpected GraphQL errors with the request id; strawberry's
    # own logger would repeat every error, expected ones included, with a traceback.
    logging.getLogger("strawberry.execution").disabled = True
    # Chatty at INFO.
    for name in ("aiokafka", "httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; ``initial`` values are bound to every line it writes."""
    return structlog.stdlib.get_logger(name, **initial)


class RequestIdMiddleware:
    """Pure ASGI: read or create ``X-Request-Id``, bind it, echo it on the response.

    The id lands in structlog's context vars (every log line of the request carries
    it), in :func:`current_request_id` and in ``scope["state"]["request_id"]`` (so
    ``request.state.request_id`` works in Starlette handlers).
    """

    def __init__(self, app: ASGIApp, header: str = REQUEST_ID_HEADER) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id: str | None = None
        for name, value in scope.get("headers", ()):
            if name == self.header:
                candidate = value.decode("latin-1")
                if _VALID_REQUEST_ID.fullmatch(candidate):
                    request_id = candidate
                break
        if request_id is None:
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode("latin-1")
        header = self.header

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != header]
                headers.append((header, encoded))
                message["headers"] = headers
            await send(message)

        id_token = _request_id.set(request_id)
        log_tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**log_tokens)
            _request_id.reset(id_token)
