"""CI keeps gateway/supergraph.graphql current: it must equal a fresh composition of our services."""

from __future__ import annotations

import importlib.util

import pytest

from gateway.composition.cli import stale_diff, supergraph_text
from gateway.composition.config import (
    DEFAULT_CONFIG,
    DEFAULT_SUPERGRAPH,
    load_config,
    sources_from_schemas,
)


def test_committed_supergraph_is_current() -> None:
    entries = load_config(DEFAULT_CONFIG)
    for entry in entries:
        assert entry.schema is not None, f"{entry.name} has no in-process schema reference"
        module = entry.schema.partition(":")[0]
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"module {module} (subgraph {entry.name}) is not installed")
    fresh = supergraph_text(sources_from_schemas(entries))
    committed = DEFAULT_SUPERGRAPH.read_text(encoding="utf-8")
    diff = stale_diff(committed, fresh, DEFAULT_SUPERGRAPH)
    assert not diff, (
        "gateway/supergraph.graphql is stale; run `python -m gateway.composition compose` and "
        "commit it:\n" + diff
    )


def test_every_listed_subgraph_has_a_distinct_name_and_port() -> None:
    entries = load_config(DEFAULT_CONFIG)
    assert len({e.name for e in entries}) == len(entries)
    assert len({e.url for e in entries}) == len(entries)
    assert all(e.url.startswith("http://127.0.0.1:400") for e in entries)
