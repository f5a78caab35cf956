"""Composition of hand-written subgraphs: the supergraph carries each Federation v2 feature."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from composition_fixtures import DIASPORA, link, shop_sources, sources
from graphql import build_ast_schema, parse

from gateway.composition import SubgraphSource, compose

GOLDEN = Path(__file__).parent / "golden"
BENCH_SUPERGRAPH = Path("/work/shared/bench/supergraph.graphql")


def block(sdl: str, header: str) -> str:
    """The printed definition starting with `header` (up to the next blank line)."""
    start = sdl.index(header + "\n")
    # Definitions are separated by a blank line followed by an unindented line.
    match = re.compile(r"\n\n(?=\S)").search(sdl, start)
    return sdl[start : match.start() if match else len(sdl)]


@pytest.fixture(scope="module")
def diaspora() -> str:
    return compose(sources(DIASPORA))


def test_shop_matches_golden_file() -> None:
    assert compose(shop_sources()) + "\n" == (GOLDEN / "shop.graphql").read_text()


def test_diaspora_matches_golden_file(diaspora: str) -> None:
    assert diaspora + "\n" == (GOLDEN / "diaspora.graphql").read_text()


def test_output_is_a_valid_graphql_schema(diaspora: str) -> None:
    schema = build_ast_schema(parse(diaspora), assume_valid_sdl=False)
    assert schema.query_type is not None
    assert schema.query_type.name == "Query"


def test_output_is_deterministic_whatever_the_subgraph_order() -> None:
    forward = compose(sources(DIASPORA))
    backward = compose(list(reversed(sources(DIASPORA))))
    assert forward == backward


def test_join_graph_enum_lists_subgraphs_by_name(diaspora: str) -> None:
    assert block(diaspora, "enum join__Graph {") == (
        "enum join__Graph {\n"
        '  CONTENT @join__graph(name: "content", url: "http://127.0.0.1:4100/content")\n'
        '  MEMBERS @join__graph(name: "members", url: "http://127.0.0.1:4100/members")\n'
        '  OPPORTUNITIES @join__graph(name: "opportunities", '
        'url: "http://127.0.0.1:4100/opportunities")\n'
        "}"
    )


def test_links_for_every_feature_used(diaspora: str) -> None:
    head = diaspora.split("{", 1)[0]
    assert head.splitlines() == [
        "schema",
        '  @link(url: "https://specs.apollo.dev/link/v1.0")',
        '  @link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)',
        '  @link(url: "https://specs.apollo.dev/tag/v0.3")',
        '  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)',
        '  @link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)',
        '  @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
        '  @link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)',
        '  @link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"])',
        '  @link(url: "https://kopano.example/audit/v1.0", import: ["@audited"])',
    ]
    assert "directive @audited(reason: String) on FIELD_DEFINITION | OBJECT" in diaspora
    assert "scalar requiresScopes__Scope" in diaspora
    assert "scalar policy__Policy" in diaspora


def test_entities_keys_and_composed_directive(diaspora: str) -> None:
    assert block(diaspora, '"""A member of the diaspora"""') == (
        '"""A member of the diaspora"""\n'
        "type Member implements Node\n"
        '  @join__implements(graph: MEMBERS, interface: "Node")\n'
        '  @join__type(graph: CONTENT, key: "id")\n'
        '  @join__type(graph: MEMBERS, key: "id")\n'
        '  @join__type(graph: MEMBERS, key: "email", resolvable: false)\n'
        '  @tag(name: "public")\n'
        '  @audited(reason: "personal data")\n'
        "{\n"
        "  id: ID!\n"
        "  name: String @join__field(graph: CONTENT, external: true) @join__field(graph: MEMBERS)\n"
        "  status: Status @join__field(graph: CONTENT, external: true) "
        "@join__field(graph: MEMBERS)\n"
        '  posts: [Post!]! @join__field(graph: CONTENT, requires: "status")\n'
        '  organisation: Organisation @join__field(graph: CONTENT, override: "members", '
        'overrideLabel: "percent(25)") @join__field(graph: MEMBERS, overrideLabel: "percent(25)")\n'
        "  email: String! @inaccessible @join__field(graph: MEMBERS)\n"
        "}"
    )


def test_provides_and_value_types(diaspora: str) -> None:
    post = block(diaspora, "type Post implements Node")
    assert '  author: Member @join__field(graph: CONTENT, provides: "name")' in post
    # A value type defined identically in two subgraphs needs no @join__field.
    assert block(diaspora, "type Place") == (
        "type Place\n"
        "  @join__type(graph: CONTENT)\n"
        "  @join__type(graph: MEMBERS)\n"
        "{\n  city: String\n  country: String!\n}"
    )


def test_root_fields_auth_cost_and_list_size(diaspora: str) -> None:
    query = block(diaspora, '"""The root of all reads"""')
    assert (
        '  """One member by id"""\n'
        "  member(id: ID!): Member @join__field(graph: MEMBERS) @cost(weight: 5)"
    ) in query
    assert (
        "  members(first: Int = 10, status: Status): [Member!]! @join__field(graph: MEMBERS) "
        '@authenticated @listSize(assumedSize: 50, slicingArguments: ["first"], '
        "requireOneSlicingArgument: false)"
    ) in query
    assert (
        "  auditLog: [String!] @inaccessible @join__field(graph: MEMBERS) "
        '@requiresScopes(scopes: [["audit:read"], ["admin"]])'
    ) in query
    assert (
        "  search(filter: SearchFilter!): [SearchResult!]! @join__field(graph: CONTENT) "
        '@join__field(graph: MEMBERS) @tag(name: "public")'
    ) in query
    mutation = block(diaspora, "type Mutation")
    assert '@policy(policies: [["moderator"]])' in mutation


def test_interface_object_fields_reach_implementations(diaspora: str) -> None:
    assert block(diaspora, "interface Feed") == (
        "interface Feed\n"
        '  @join__type(graph: CONTENT, key: "id", isInterfaceObject: true)\n'
        '  @join__type(graph: OPPORTUNITIES, key: "id")\n'
        "{\n  id: ID!\n  score: Int @join__field(graph: CONTENT)\n}"
    )
    job_feed = block(diaspora, "type JobFeed implements Feed")
    assert "  score: Int @join__field\n" in job_feed + "\n"


def test_inputs_intersect_and_output_enums_union(diaspora: str) -> None:
    assert block(diaspora, "input SearchFilter") == (
        "input SearchFilter\n"
        "  @join__type(graph: CONTENT)\n"
        "  @join__type(graph: MEMBERS)\n"
        "{\n  text: String!\n  limit: Int = 20\n}"
    )
    status = block(diaspora, "enum Status")
    assert "  SUSPENDED @inaccessible @join__enumValue(graph: CONTENT) " in status
    union = block(diaspora, "union SearchResult")
    # Members in merge order: subgraphs by name ("content" first), then first appearance.
    assert union.endswith(" = Post | Member | Organisation")
    assert '@join__unionMember(graph: MEMBERS, member: "Organisation")' in union
    assert '@join__unionMember(graph: CONTENT, member: "Post")' in union


def test_non_resolvable_keys_and_shareable_fields(diaspora: str) -> None:
    org = block(diaspora, "type Organisation")
    assert '  @join__type(graph: CONTENT, key: "id", resolvable: false)' in org
    assert "  name: String! @join__field(graph: MEMBERS) @join__field(graph: OPPORTUNITIES)" in org
    assert '@deprecated(reason: "use memberships")' in org


def test_input_only_enum_intersects_and_both_way_enum_must_agree() -> None:
    header = link("v2.3", "@key")
    a = header + "type Query { a(level: Level): Int }\nenum Level { LOW HIGH EXTREME }"
    b = header + "type Query { b(level: Level): Int }\nenum Level { LOW HIGH }"
    sdl = compose(sources({"a": a, "b": b}))
    assert "EXTREME" not in sdl
    assert "  HIGH @join__enumValue(graph: A) @join__enumValue(graph: B)" in sdl


def test_field_types_merge_to_the_supertype() -> None:
    header = link("v2.3", "@key", "@shareable")
    a = header + 'type Query { t: T }\ntype T @key(fields: "id") { id: ID! n: Int! @shareable }'
    b = header + 'type T @key(fields: "id") { id: ID! n: Int @shareable }'
    sdl = compose(sources({"a": a, "b": b}))
    assert (
        '  n: Int @join__field(graph: A, type: "Int!") @join__field(graph: B, type: "Int")' in sdl
    )


def test_renamed_and_namespaced_federation_imports() -> None:
    a = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: [{name: "@key", as: "@primaryKey"}])\n'
        'type Query { t: T }\ntype T @primaryKey(fields: "id") { id: ID! x: Int '
        "@federation__shareable }"
    )
    b = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "fed")\n'
        'type T @fed__key(fields: "id") { id: ID! x: Int @fed__shareable }'
    )
    sdl = compose(sources({"a": a, "b": b}))
    assert '  @join__type(graph: A, key: "id")\n  @join__type(graph: B, key: "id")' in sdl


def test_strawberry_service_sdl_with_machinery_and_custom_roots() -> None:
    sdl = (
        'schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"]) '
        "{ query: RootQuery }\n"
        "type RootQuery { _entities(representations: [_Any!]!): [_Entity]! "
        "_service: _Service! thing: Thing }\n"
        'type Thing @key(fields: "id") { id: ID! }\n'
        "scalar _Any\nunion _Entity = Thing\ntype _Service { sdl: String! }\n"
    )
    out = compose([SubgraphSource("only", "http://127.0.0.1:9/graphql", sdl)])
    assert '@link(url: "https://specs.apollo.dev/join/v0.4", for: EXECUTION)' in out
    assert "type Query\n  @join__type(graph: ONLY)\n{\n  thing: Thing\n}" in out
    assert "_Any" not in out
    assert "_service" not in out


def test_bench_subgraphs_compose_to_the_bench_supergraph() -> None:
    if not BENCH_SUPERGRAPH.exists():
        pytest.skip(f"{BENCH_SUPERGRAPH} (made by @apollo/composition) is not on this machine")
    ours = compose(shop_sources())
    assert normalise(ours) == normalise(BENCH_SUPERGRAPH.read_text())


def normalise(sdl: str) -> list[str]:
    """Definitions printed one per item, sorted, with their fields and directives sorted."""
    from graphql import print_ast

    doc = parse(sdl)
    out: list[str] = []
    for definition in doc.definitions:
        node = definition
        for attr in ("fields", "values", "directives"):
            items = getattr(node, attr, None)
            if items:
                node.__dict__[attr] = tuple(sorted(items, key=print_ast))
        out.append(print_ast(node))
    return sorted(out)


def test_graph_enum_names_are_sanitised_and_collisions_numbered() -> None:
    header = link("v2.3", "@key")
    names = ["my-sub", "2fa", "a.b", "my_sub", "MY-SUB"]
    sdl = compose(sources({n: header + f"type Query {{ f{i}: Int }}" for i, n in enumerate(names)}))
    values = [line.split()[0] for line in block(sdl, "enum join__Graph {").splitlines()[1:-1]]
    # Subgraphs sorted by name: "2fa", "MY-SUB", "a.b", "my-sub", "my_sub".
    assert values == ["_2FA", "MY_SUB_1", "A_B", "MY_SUB_2", "MY_SUB_3"]


def test_access_control_propagates_between_interfaces_and_implementations() -> None:
    header = link(
        "v2.9", "@key", "@interfaceObject", "@authenticated", "@requiresScopes", "@policy", "@tag"
    )
    a = header + (
        'interface Media @key(fields: "id") { id: ID! title: String }\n'
        'type Book implements Media @key(fields: "id") @authenticated {\n'
        '  id: ID! title: String @requiresScopes(scopes: [["read:books"]]) }\n'
        'type Movie implements Media @key(fields: "id") {\n'
        '  id: ID! title: String @requiresScopes(scopes: [["read:movies"], ["admin"]]) }\n'
        "type Query { media: [Media] }"
    )
    b = header + (
        'type Media @interfaceObject @key(fields: "id") {\n'
        '  id: ID! reviews: [String] @policy(policies: [["reviewer"]]) @tag(name: "x") }\n'
        "type Query { topMedia: Media }"
    )
    sdl = compose(sources({"a": a, "b": b}))
    media = block(sdl, "interface Media")
    # Upwards: the interface needs what any implementation needs (scopes: AND of the DNFs).
    assert "  @authenticated\n{" in media
    assert (
        "  title: String @join__field(graph: A) @requiresScopes(scopes: "
        '[["admin", "read:books"], ["read:books", "read:movies"]])'
    ) in media
    # Downwards: a field an @interfaceObject adds carries its requirements to implementations.
    movie = block(sdl, "type Movie implements Media")
    assert '  reviews: [String] @policy(policies: [["reviewer"]]) @tag(name: "x") @join__field' in (
        movie
    )
