"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>``, timestamped, with a delivery id.

Headers: ``X-Kopano-Signature: t=<unix seconds>,v1=<hex digest>`` and
``X-Kopano-Delivery: <unique id>``. The receiver refuses a bad signature, a timestamp outside
its tolerance (a replay of an old capture) and a delivery id it has already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

SIGNATURE_HEADER = "x-kopano-signature"
DELIVERY_HEADER = "x-kopano-delivery"


class InvalidSignature(ValueError):
    """The webhook is not authentic or not fresh."""


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for `body` at `timestamp` (now by default)."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    timestamp: int


def verify(
    secret: bytes, body: bytes, header: str | None, *, tolerance: int, now: float | None = None
) -> VerifiedSignature:
    if not header:
        raise InvalidSignature("missing signature")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError):
        raise InvalidSignature("malformed signature") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise InvalidSignature("timestamp outside the tolerance")
    expected = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    # Any v1 may match (a partner rotating its secret sends two).
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise InvalidSignature("signature mismatch")
    return VerifiedSignature(ts)
