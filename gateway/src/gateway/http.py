"""A small pooled HTTP/1.1 keep-alive client for subgraph fetches.

Subgraph calls are all `POST <path>` with a JSON body to a handful of hosts, so a raw
asyncio protocol with httptools' parser does the job with far less per-request work than a
general-purpose client.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx


class SubgraphHTTPError(Exception):
    """The subgraph could not be reached or answered with an unreadable response."""


class _Expired(Exception):
    pass


def _expire(fut: asyncio.Future[tuple[int, bytes]]) -> None:
    if not fut.done():
        fut.set_exception(_Expired())


class _Conn(asyncio.Protocol):
    __slots__ = ("body", "closed", "keep_alive", "parser", "status", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.status = 0
        self.keep_alive = True
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # malformed response: fail the caller, drop the connection
            self._fail(SubgraphHTTPError(f"bad HTTP response: {exc}"))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(SubgraphHTTPError("connection closed by subgraph"))

    def _fail(self, exc: Exception) -> None:
        w = self.waiter
        self.waiter = None
        if w is not None and not w.done():
            w.set_exception(exc)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body = []

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        w = self.waiter
        self.waiter = None
        if w is not None and not w.done():
            w.set_result((self.status, b"".join(self.body)))


class _Endpoint:
    __slots__ = ("head", "host", "idle", "port")

    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        if u.scheme != "http":  # pragma: no cover - https goes through HttpPool._post_tls
            raise SubgraphHTTPError(f"unsupported subgraph URL scheme: {url}")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        host_header = u.netloc
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        ).encode()
        self.idle: list[_Conn] = []


class HttpPool:
    """Keep-alive connections per subgraph URL; at most `max_idle` kept per endpoint."""

    def __init__(self, max_idle: int = 128, timeout: float = 30.0) -> None:
        self._endpoints: dict[str, _Endpoint] = {}
        self.max_idle = max_idle
        self.timeout = timeout
        self._tls: httpx.AsyncClient | None = None

    def _endpoint(self, url: str) -> _Endpoint:
        ep = self._endpoints.get(url)
        if ep is None:
            ep = _Endpoint(url)
            self._endpoints[url] = ep
        return ep

    async def post(
        self, url: str, body: bytes, extra_headers: bytes = b"", time_limit: float | None = None
    ) -> tuple[int, bytes]:
        if url.startswith("https:"):
            return await self._post_tls(url, body, extra_headers, time_limit)
        ep = self._endpoint(url)
        req = b"".join(
            (
                ep.head,
                extra_headers,
                b"Content-Length: ",
                str(len(body)).encode(),
                b"\r\n\r\n",
                body,
            )
        )
        # A reused connection may have been closed by the server meanwhile: retry once on a
        # fresh one (the request never reached a handler in that case).
        while ep.idle:
            conn = ep.idle.pop()
            if conn.closed:
                continue
            try:
                return await self._send(ep, conn, req, time_limit)
            except SubgraphHTTPError:
                if conn.body or conn.status:
                    raise
                continue
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Conn, ep.host, ep.port)
        except OSError as exc:
            raise SubgraphHTTPError(f"cannot connect to {url}: {exc}") from exc
        return await self._send(ep, conn, req, time_limit)

    async def _send(
        self, ep: _Endpoint, conn: _Conn, req: bytes, time_limit: float | None = None
    ) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        conn.waiter = fut
        conn.status = 0
        conn.body = []
        assert conn.transport is not None
        conn.transport.write(req)
        # A timer that fails the waiter is much cheaper than asyncio.wait_for per request.
        timer = loop.call_later(time_limit or self.timeout, _expire, fut)
        try:
            result = await fut
        except _Expired as exc:
            conn.transport.close()
            raise SubgraphHTTPError("subgraph request timed out") from exc
        finally:
            timer.cancel()
        if conn.keep_alive and not conn.closed and len(ep.idle) < self.max_idle:
            ep.idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()
        return result

    async def get(self, url: str) -> int:
        """Plain GET used by readiness checks; returns the status code."""
        u = urlsplit(url)
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Conn, u.hostname or "127.0.0.1", u.port or 80)
        except OSError as exc:
            raise SubgraphHTTPError(str(exc)) from exc
        fut: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        conn.waiter = fut
        assert conn.transport is not None
        conn.transport.write(
            f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode()
        )
        try:
            status, _ = await asyncio.wait_for(fut, 5.0)
        finally:
            conn.transport.close()
        return status

    async def _post_tls(
        self, url: str, body: bytes, extra_headers: bytes, time_limit: float | None = None
    ) -> tuple[int, bytes]:
        """TLS subgraphs (not on the hot path of a local deployment) go through httpx."""
        if self._tls is None:
            self._tls = httpx.AsyncClient(timeout=self.timeout)
        headers = {"content-type": "application/json", "accept": "application/json"}
        for line in extra_headers.decode("latin-1").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        try:
            r = await self._tls.post(
                url, content=body, headers=headers, timeout=time_limit or self.timeout
            )
        except httpx.HTTPError as exc:
            raise SubgraphHTTPError(f"cannot reach {url}: {exc}") from exc
        return r.status_code, r.content

    async def aclose(self) -> None:
        self.close()
        if self._tls is not None:
            await self._tls.aclose()
            self._tls = None

    def close(self) -> None:
        for ep in self._endpoints.values():
            for c in ep.idle:
                if c.transport is not None:
                    c.transport.close()
            ep.idle.clear()
