"""Persisted operations: Automatic Persisted Queries (APQ) and a safelist manifest.

APQ: a request carries `extensions.persistedQuery.sha256Hash`; without `query` the gateway
answers from its store or with `PERSISTED_QUERY_NOT_FOUND`; with `query` the hash is checked
and the document registered. Safelist: only operations in the manifest run; clients send
the id (`extensions.persistedQuery.sha256Hash` or `documentId`), or a document that is
itself in the manifest.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson

from gateway.limits import LimitExceeded


class PersistedQueries:
    def __init__(self, *, apq: bool = True, manifest: str = "", apq_size: int = 10_000) -> None:
        self.apq = apq
        self.apq_size = apq_size
        self._apq: OrderedDict[str, str] = OrderedDict()
        self.safelist: dict[str, str] | None = None
        self._allowed: set[str] = set()
        if manifest:
            self.safelist = load_manifest(manifest)
            self._allowed = set(self.safelist.values())

    def resolve(self, payload: dict[str, Any]) -> str:
        """The document to run for this request payload; raises LimitExceeded with a stable
        code when it cannot be run."""
        query = payload.get("query")
        ext = payload.get("extensions")
        pq = ext.get("persistedQuery") if isinstance(ext, dict) else None
        h = pq.get("sha256Hash") if isinstance(pq, dict) else None
        if h is None:
            h = payload.get("documentId")
        if self.safelist is not None:
            if isinstance(h, str):
                doc = self.safelist.get(h)
                if doc is not None:
                    return doc
            if isinstance(query, str) and query in self._allowed:
                return query
            raise LimitExceeded(
                "PERSISTED_QUERY_NOT_IN_LIST", "Only persisted operations are accepted."
            )
        if isinstance(h, str) and self.apq:
            if isinstance(query, str):
                if hashlib.sha256(query.encode()).hexdigest() != h:
                    raise LimitExceeded(
                        "PERSISTED_QUERY_HASH_MISMATCH", "provided sha does not match query"
                    )
                self._apq[h] = query
                if len(self._apq) > self.apq_size:
                    self._apq.popitem(last=False)
                return query
            got = self._apq.get(h)
            if got is None:
                raise LimitExceeded("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound", 200)
            self._apq.move_to_end(h)
            return got
        if isinstance(h, str) and not self.apq and not isinstance(query, str):
            raise LimitExceeded("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported", 200)
        if not isinstance(query, str):
            raise LimitExceeded("BAD_REQUEST", "Request body must be a JSON object with a 'query'.")
        return query


def load_manifest(path: str) -> dict[str, str]:
    """A JSON manifest: `{"id": "document", ...}`, or Apollo's persisted-query manifest
    (`{"operations": [{"id": ..., "body": ...}]}`)."""
    data = orjson.loads(Path(path).read_bytes())
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        return {str(o["id"]): str(o["body"]) for o in data["operations"]}
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    raise ValueError(f"unreadable persisted-operation manifest: {path}")
