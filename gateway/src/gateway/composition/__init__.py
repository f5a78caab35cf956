"""Federation v2 composition: subgraph SDLs in, a supergraph SDL out.

    from gateway.composition import SubgraphSource, compose

    sdl = compose([SubgraphSource("members", "http://127.0.0.1:4001/graphql", members_sdl)])

`compose` raises `CompositionError` (with every problem found, each with a stable code) when
the subgraphs cannot be composed. The output has the shape Apollo's composition produces
(`@link`, `join__*`), so Apollo Gateway and Hive Gateway load it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLError, build_ast_schema, parse, validate_schema

from gateway.composition.errors import CompositionError, CompositionIssue
from gateway.composition.merge import Merger, SupergraphModel
from gateway.composition.printer import print_supergraph
from gateway.composition.subgraph import SubgraphSource, read_subgraph

__all__ = [
    "CompositionError",
    "CompositionIssue",
    "SubgraphSource",
    "compose",
    "compose_model",
]


def compose_model(sources: Sequence[SubgraphSource]) -> SupergraphModel:
    """Read, validate and merge the subgraphs; raises `CompositionError` on any problem."""
    if not sources:
        raise CompositionError([CompositionIssue("NO_SUBGRAPHS", "No subgraphs to compose.")])
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CompositionError(
            [
                CompositionIssue("DUPLICATE_SUBGRAPH", f'Subgraph "{n}" is listed twice.')
                for n in duplicates
            ]
        )
    issues: list[CompositionIssue] = []
    subgraphs = []
    for source in sources:
        subgraph, problems = read_subgraph(source)
        issues.extend(problems)
        subgraphs.append(subgraph)
    if issues:
        raise CompositionError(issues)
    merger = Merger(subgraphs)
    model = merger.merge()
    if merger.issues:
        raise CompositionError(merger.issues)
    # Safety net, as Apollo's `merged.validate()`: whatever slipped through the merge rules
    # must not produce a supergraph that is not a valid GraphQL schema.
    problems = _graphql_problems(print_supergraph(model))
    if problems:
        raise CompositionError(problems)
    return model


def _graphql_problems(sdl: str) -> list[CompositionIssue]:
    try:
        schema = build_ast_schema(parse(sdl), assume_valid_sdl=False)
    except (GraphQLError, TypeError) as exc:
        return [CompositionIssue("INVALID_GRAPHQL", f"The supergraph is invalid: {exc}")]
    return [
        CompositionIssue("INVALID_GRAPHQL", f"The supergraph is invalid: {error.message}")
        for error in validate_schema(schema)
    ]


def compose(sources: Sequence[SubgraphSource]) -> str:
    """Compose subgraph SDLs into a supergraph SDL."""
    return print_supergraph(compose_model(sources))
