"""Conflicts between (or inside) subgraphs fail composition with clear, coded messages.

The expected messages are the ones Apollo's composition (2.14) reports for the same input.
"""

from __future__ import annotations

import pytest
from composition_fixtures import link, sources

from gateway.composition import CompositionError, SubgraphSource, compose

H = link("v2.3", "@key", "@shareable", "@external", "@requires", "@provides", "@override")
H27 = link("v2.7", "@key", "@override", "@interfaceObject")
USER = 'type Query { me: User }\ntype User @key(fields: "id") '

CASES: list[tuple[str, dict[str, str], str, str]] = [
    (
        "non-shareable field in two subgraphs",
        {
            "a": H + USER + "{ id: ID! name: String }",
            "b": H + 'type User @key(fields: "id") { id: ID! name: String }',
        },
        "INVALID_FIELD_SHARING",
        'Non-shareable field "User.name" is resolved from multiple subgraphs: it is resolved '
        'from subgraphs "a" and "b" and defined as non-shareable in all of them',
    ),
    (
        "shareable in one subgraph only",
        {
            "a": H + USER + "{ id: ID! name: String @shareable }",
            "b": H + 'type User @key(fields: "id") { id: ID! name: String }',
            "c": H + 'type User @key(fields: "id") { id: ID! name: String }',
        },
        "INVALID_FIELD_SHARING",
        'Non-shareable field "User.name" is resolved from multiple subgraphs: it is resolved '
        'from subgraphs "a", "b" and "c" and defined as non-shareable in subgraphs "b" and "c"',
    ),
    (
        "incompatible field types",
        {
            "a": H + USER + "{ id: ID! age: Int @shareable }",
            "b": H + 'type User @key(fields: "id") { id: ID! age: String @shareable }',
        },
        "FIELD_TYPE_MISMATCH",
        'Type of field "User.age" is incompatible across subgraphs: it has type "Int" in '
        'subgraph "a" but type "String" in subgraph "b"',
    ),
    (
        "external field defined nowhere",
        {"a": H + USER + '{ id: ID! age: Int @external x: Int @requires(fields: "age") }'},
        "EXTERNAL_MISSING_ON_BASE",
        'Field "User.age" is marked @external on all the subgraphs in which it is listed '
        '(subgraph "a").',
    ),
    (
        "external with another type than its definition",
        {
            "a": H
            + 'type Query { me: User @provides(fields: "name") }\n'
            + 'type User @key(fields: "id") { id: ID! name: Int @external }',
            "b": H + 'type User @key(fields: "id") { id: ID! name: String @shareable }',
        },
        "EXTERNAL_TYPE_MISMATCH",
        'Type of field "User.name" is incompatible across subgraphs (where marked @external): '
        'it has type "String" in subgraph "b" but type "Int" in subgraph "a"',
    ),
    (
        "external used by nothing",
        {"a": H + USER + "{ id: ID! age: Int @external }"},
        "EXTERNAL_UNUSED",
        '[a] Field "User.age" is marked @external but is not used in any federation directive '
        "(@key, @provides, @requires) or to satisfy an interface; the field declaration has no "
        "use and should be removed (or the field should not be @external).",
    ),
    (
        "key on a field that does not exist",
        {"a": H + 'type Query { me: User }\ntype User @key(fields: "uid") { id: ID! }'},
        "KEY_INVALID_FIELDS",
        '[a] On type "User", for @key(fields: "uid"): Cannot query field "uid" on type "User" '
        "(the field should either be added to this subgraph or, if it should not be resolved "
        "by this subgraph, you need to add it to this subgraph with @external).",
    ),
    (
        "requires on a field the subgraph resolves itself",
        {"a": H + USER + '{ id: ID! age: Int x: Int @requires(fields: "age") }'},
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        '[a] On field "User.x", for @requires(fields: "age"): field "User.age" should not be '
        "part of a @requires since it is already provided by this subgraph (it is not marked "
        "@external)",
    ),
    (
        "provides on a field the subgraph resolves itself",
        {
            "a": H
            + 'type Query { me: User @provides(fields: "name") }\n'
            + 'type User @key(fields: "id") { id: ID! name: String }'
        },
        "PROVIDES_FIELDS_MISSING_EXTERNAL",
        '[a] On field "Query.me", for @provides(fields: "name"): field "User.name" should not '
        "be part of a @provides since it is already provided by this subgraph (it is not "
        "marked @external)",
    ),
    (
        "required input field missing in another subgraph",
        {
            "a": H + "type Query { a(f: F): Int }\ninput F { x: Int y: Int! }",
            "b": H + "type Query { b(f: F): Int }\ninput F { x: Int }",
        },
        "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
        'Input object field "F.y" is required in some subgraphs but does not appear in all '
        'subgraphs: it is required in subgraph "a" but does not appear in subgraph "b"',
    ),
    (
        "inputs with no common field",
        {
            "a": H + "type Query { a(f: F): Int }\ninput F { x: Int }",
            "b": H + "type Query { b(f: F): Int }\ninput F { y: Int }",
        },
        "EMPTY_MERGED_INPUT_TYPE",
        'None of the fields of input object type "F" are consistently defined in all the '
        "subgraphs defining that type. As only fields common to all subgraphs are merged, this "
        "would result in an empty type.",
    ),
    (
        "enum used as input and output with different values",
        {
            "a": H + "type Query { a(l: L): L }\nenum L { X Y }",
            "b": H + "type Query { b: L }\nenum L { X }",
        },
        "ENUM_VALUE_MISMATCH",
        'Enum type "L" is used as both input type (for example, as type of "Query.a(l:)") and '
        'output type (for example, as type of "Query.a"), but value "Y" is not defined in all '
        'the subgraphs defining "L": "Y" is defined in subgraph "a" but not in subgraph "b"',
    ),
    (
        "type kinds differ",
        {
            "a": H + "type Query { a: T }\ntype T { x: Int }",
            "b": H + "type Query { b: T }\ninterface T { x: Int }",
        },
        "TYPE_KIND_MISMATCH",
        'Type "T" has mismatched kind: it is defined as Object Type in subgraph "a" but '
        'Interface Type in subgraph "b"',
    ),
    (
        "override from itself",
        {"a": H + USER + '{ id: ID! x: Int @override(from: "a") }'},
        "OVERRIDE_FROM_SELF_ERROR",
        'Source and destination subgraphs "a" are the same for overridden field "User.x"',
    ),
    (
        "invalid progressive override label",
        {
            "a": H27 + USER + '{ id: ID! x: Int @override(from: "b", label: "1bad label") }',
            "b": H27 + 'type User @key(fields: "id") { id: ID! x: Int }',
        },
        "OVERRIDE_LABEL_INVALID",
        'Invalid @override label "1bad label" on field "User.x" on subgraph "a": labels must '
        "start with a letter and after that may contain alphanumerics, underscores, minuses, "
        'colons, periods, or slashes. Alternatively, labels may be of the form "percent(x)" '
        "where x is a float between 0-100 inclusive.",
    ),
    (
        "argument defaults differ",
        {
            "a": H + "type Query { a(n: Int = 1): Int @shareable }",
            "b": H + "type Query { a(n: Int = 2): Int @shareable }",
        },
        "FIELD_ARGUMENT_DEFAULT_MISMATCH",
        'Argument "Query.a(n:)" has incompatible default values across subgraphs: it has '
        'default value 1 in subgraph "a" but default value 2 in subgraph "b"',
    ),
    (
        "required argument missing in another subgraph",
        {
            "a": H + "type Query { a(n: Int!): Int @shareable }",
            "b": H + "type Query { a: Int @shareable }",
        },
        "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
        'Argument "Query.a(n:)" is required in some subgraphs but does not appear in all '
        'subgraphs: it is required in subgraph "a" but does not appear in subgraph "b"',
    ),
    (
        "no query anywhere",
        {"a": H + 'type User @key(fields: "id") { id: ID! }'},
        "NO_QUERIES",
        "No queries found in any subgraph: a supergraph must have a query root type.",
    ),
    (
        "interface object without an interface",
        {"a": H27 + 'type Query { me: I }\ntype I @interfaceObject @key(fields: "id") { id: ID! }'},
        "INTERFACE_OBJECT_USAGE_ERROR",
        'Type "I" is declared with @interfaceObject in all the subgraphs in which it is defined '
        '(it is defined in subgraph "a" but should be defined as an interface in at least one '
        "subgraph)",
    ),
    (
        "extension with no base type",
        {"a": H + 'type Query { me: User }\nextend type User @key(fields: "id") { id: ID! }'},
        "EXTENSION_WITH_NO_BASE",
        '[a] Type "User" is an extension type, but there is no type definition for "User" in '
        "any subgraph.",
    ),
    (
        "syntax error",
        {"a": H + "type Query { me: User "},
        "INVALID_GRAPHQL",
        "[a] Syntax Error: Expected Name, found <EOF>.",
    ),
    (
        "federation 1 subgraph",
        {"a": "type Query { me: Int }"},
        "UNSUPPORTED_FEDERATION_VERSION",
        "[a] The subgraph does not @link the federation spec "
        '("https://specs.apollo.dev/federation/v2.x"): Federation 1 subgraphs are not supported.',
    ),
]


@pytest.mark.parametrize(
    ("subgraphs", "code", "message"),
    [pytest.param(s, c, m, id=name) for name, s, c, m in CASES],
)
def test_conflict_is_reported(subgraphs: dict[str, str], code: str, message: str) -> None:
    with pytest.raises(CompositionError) as excinfo:
        compose(sources(subgraphs))
    assert (code, message) in [(i.code, i.message) for i in excinfo.value.issues]
    assert f"[{code}] {message}" in str(excinfo.value)


def test_every_problem_is_reported_at_once() -> None:
    subgraphs = {
        "a": H + USER + "{ id: ID! name: String age: Int @shareable }",
        "b": H + 'type User @key(fields: "id") { id: ID! name: String age: String @shareable }',
    }
    with pytest.raises(CompositionError) as excinfo:
        compose(sources(subgraphs))
    assert sorted(excinfo.value.codes) == ["FIELD_TYPE_MISMATCH", "INVALID_FIELD_SHARING"]


def test_duplicate_subgraph_names_are_rejected() -> None:
    sdl = H + "type Query { a: Int }"
    with pytest.raises(CompositionError, match='Subgraph "a" is listed twice'):
        compose([SubgraphSource("a", "http://x/1", sdl), SubgraphSource("a", "http://x/2", sdl)])


def test_valid_override_composes() -> None:
    subgraphs = {
        "a": H + USER + '{ id: ID! x: Int @override(from: "b") }',
        "b": H + 'type User @key(fields: "id") { id: ID! x: Int }',
    }
    sdl = compose(sources(subgraphs))
    # The overridden, unused field in "b" is no longer resolved there.
    assert '  x: Int @join__field(graph: A, override: "b")\n' in sdl


@pytest.mark.parametrize(
    ("sdl", "message"),
    [
        (
            H + "type Query { a: Nope }",
            "[a] Unknown type Nope",
        ),
        (
            H + "type Query { a: Int }\ntype Query { b: Int }",
            '[a] There can be only one type named "Query"',
        ),
        (
            H + "type Query { a: Int }\nextend type Query { a: Int }",
            "[a] Field a already exists on Query",
        ),
        (
            H + "type Query { a(c: Color = PURPLE): Int }\nenum Color { RED }",
            '[a] Invalid default value (got: "PURPLE") provided for argument Query.a(c:) of '
            "type Color.",
        ),
        (
            H + 'type Query { t: T }\ntype T @key(fields: "u") { id: ID! u: U }\ntype U { x: Int }',
            '[a] On type "T", for @key(fields: "u"): Invalid empty selection set for field '
            '"T.u" of non-leaf type U',
        ),
        (
            H + 'type Query { t: T }\ntype T @key(fields: "f") { f(x: Int): Int }',
            '[a] On type "T", for @key(fields: "f"): field T.f cannot be included because it has '
            "arguments (fields with argument are not allowed in @key)",
        ),
    ],
)
def test_invalid_subgraph_is_reported(sdl: str, message: str) -> None:
    with pytest.raises(CompositionError) as excinfo:
        compose(sources({"a": sdl}))
    assert message in [i.message for i in excinfo.value.issues]
