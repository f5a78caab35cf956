"""Per-client rate limiting (fixed window) with the IETF `RateLimit` / `RateLimit-Policy`
header fields (draft-ietf-httpapi-ratelimit-headers): in memory for one process, or in Redis
so that every gateway replica shares the counts."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    window: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"ratelimit-policy", f'"default";q={self.limit};w={self.window}'.encode()),
            (b"ratelimit", f'"default";r={self.remaining};t={self.reset}'.encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.reset).encode()))
        return out


class RateLimiter(Protocol):
    async def hit(self, client: str) -> Decision: ...

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """Fixed windows aligned on the clock; old windows are dropped as time moves on."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._counts: dict[str, int] = {}
        self._current = -1

    async def hit(self, client: str) -> Decision:
        now = time.time()
        w = int(now // self.window)
        if w != self._current:
            self._current = w
            self._counts.clear()
        n = self._counts.get(client, 0) + 1
        self._counts[client] = n
        reset = max(1, math.ceil((w + 1) * self.window - now))
        return Decision(
            n <= self.limit, self.limit, max(0, self.limit - n), reset, int(self.window)
        )

    async def aclose(self) -> None:
        return None


class RedisRateLimiter:
    """The same fixed window in Redis: one INCR (+ EXPIRE on the first hit) per request."""

    def __init__(self, url: str, limit: int, window: float, prefix: str = "gw:rl:") -> None:
        import redis.asyncio as aioredis

        self.redis: Any = aioredis.from_url(url)
        self.limit = limit
        self.window = window
        self.prefix = prefix

    async def hit(self, client: str) -> Decision:
        now = time.time()
        w = int(now // self.window)
        key = f"{self.prefix}{w}:{client}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, math.ceil(self.window) + 1, nx=True)
            n, _ = await pipe.execute()
        reset = max(1, math.ceil((w + 1) * self.window - now))
        return Decision(
            n <= self.limit, self.limit, max(0, self.limit - n), reset, int(self.window)
        )

    async def aclose(self) -> None:
        await self.redis.aclose()
