"""The list of our subgraphs (`gateway/subgraphs.toml`) and the ways to get their SDLs."""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.composition.subgraph import SubgraphSource

GATEWAY_DIR = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = GATEWAY_DIR / "subgraphs.toml"
DEFAULT_SUPERGRAPH = GATEWAY_DIR / "supergraph.graphql"
SERVICE_SDL_QUERY = "query SubgraphSdl { _service { sdl } }"


class SubgraphConfigError(Exception):
    """The subgraph list is malformed, or a subgraph's SDL cannot be obtained."""


@dataclass(frozen=True, slots=True)
class SubgraphEntry:
    """One subgraph: its name in the supergraph, routing URL and in-process schema reference."""

    name: str
    url: str
    schema: str | None = None  # "module:attribute"; the attribute is a Schema or builds one


def load_config(path: Path = DEFAULT_CONFIG) -> list[SubgraphEntry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SubgraphConfigError(f"cannot read {path}: {exc}") from exc
    entries: list[SubgraphEntry] = []
    for raw in data.get("subgraphs", []):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise SubgraphConfigError(f"{path}: every [[subgraphs]] entry needs a name")
        if not isinstance(raw.get("url"), str):
            raise SubgraphConfigError(f"{path}: subgraph {raw['name']!r} needs a url")
        schema = raw.get("schema")
        if schema is not None and not isinstance(schema, str):
            raise SubgraphConfigError(f"{path}: subgraph {raw['name']!r}: schema must be a string")
        entries.append(SubgraphEntry(raw["name"], raw["url"], schema))
    if not entries:
        raise SubgraphConfigError(f"{path} lists no subgraphs")
    return entries


def _service_sdl(data: Any, errors: Any, where: str) -> str:
    if errors or not data or not isinstance(data.get("_service"), dict):
        raise SubgraphConfigError(f"{where}: `_service {{ sdl }}` failed: {errors}")
    sdl = data["_service"].get("sdl")
    if not isinstance(sdl, str):
        raise SubgraphConfigError(f"{where}: `_service {{ sdl }}` returned no SDL")
    return sdl


def sdl_from_schema(reference: str) -> str:
    """The `_service { sdl }` of an in-process strawberry schema named `module:attribute`."""
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SubgraphConfigError(f"cannot import {module_name}: {exc}") from exc
    target = getattr(module, attribute or "schema", None)
    if target is None:
        raise SubgraphConfigError(f"{module_name} has no attribute {attribute or 'schema'!r}")
    schema = target if hasattr(target, "execute_sync") else target()
    result = schema.execute_sync(SERVICE_SDL_QUERY)
    return _service_sdl(result.data, result.errors, reference)


def sources_from_schemas(entries: Sequence[SubgraphEntry]) -> list[SubgraphSource]:
    out: list[SubgraphSource] = []
    for entry in entries:
        if entry.schema is None:
            raise SubgraphConfigError(f"subgraph {entry.name!r} has no `schema` reference")
        out.append(SubgraphSource(entry.name, entry.url, sdl_from_schema(entry.schema)))
    return out


def sources_from_urls(
    entries: Sequence[SubgraphEntry], *, timeout: float = 10.0
) -> list[SubgraphSource]:
    """Ask each running subgraph for its `_service { sdl }` at its routing URL."""
    out: list[SubgraphSource] = []
    with httpx.Client(timeout=timeout) as client:
        for entry in entries:
            try:
                response = client.post(entry.url, json={"query": SERVICE_SDL_QUERY})
                response.raise_for_status()
                payload = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SubgraphConfigError(f"{entry.name} at {entry.url}: {exc}") from exc
            sdl = _service_sdl(payload.get("data"), payload.get("errors"), entry.url)
            out.append(SubgraphSource(entry.name, entry.url, sdl))
    return out


def sources_from_files(
    entries: Sequence[SubgraphEntry], files: dict[str, Path]
) -> list[SubgraphSource]:
    """SDL files given per subgraph name; routing URLs come from the subgraph list."""
    urls = {e.name: e.url for e in entries}
    out: list[SubgraphSource] = []
    for name, path in files.items():
        if name not in urls:
            raise SubgraphConfigError(f"subgraph {name!r} is not in the subgraph list")
        try:
            sdl = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SubgraphConfigError(f"cannot read {path}: {exc}") from exc
        out.append(SubgraphSource(name, urls[name], sdl))
    return out
