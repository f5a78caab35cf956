"""Printing a merged supergraph in the layout Apollo's composition prints.

Types and directive definitions are sorted by name (JavaScript `localeCompare` order, as
Apollo); fields, enum values and union members keep their merge order (first subgraph by name
first), which is deterministic for given subgraph SDLs.
"""

from __future__ import annotations

from graphql import DirectiveDefinitionNode, print_ast

from gateway.composition._syntax import Applied, collation_key, print_block_string, string_value
from gateway.composition.merge import (
    MergedArgument,
    MergedField,
    MergedType,
    SupergraphModel,
)
from gateway.composition.subgraph import ENUM, INPUT_OBJECT, INTERFACE, OBJECT, SCALAR, UNION

INDENT = "  "

# Apollo spec features carried into the supergraph: name -> (version, purpose).
_FEATURES: dict[str, tuple[str, str | None]] = {
    "tag": ("v0.3", None),
    "inaccessible": ("v0.2", "SECURITY"),
    "authenticated": ("v0.1", "SECURITY"),
    "requiresScopes": ("v0.1", "SECURITY"),
    "policy": ("v0.1", "SECURITY"),
}

_SPEC_DIRECTIVES: dict[str, str] = {
    "tag": "directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | "
    "UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | "
    "INPUT_FIELD_DEFINITION | SCHEMA",
    "inaccessible": "directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | "
    "ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION",
    "authenticated": "directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR "
    "| ENUM",
    "requiresScopes": "directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on "
    "FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM",
    "policy": "directive @policy(policies: [[policy__Policy!]!]!) on FIELD_DEFINITION | OBJECT | "
    "INTERFACE | SCALAR | ENUM",
    "cost": "directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | "
    "INPUT_FIELD_DEFINITION | OBJECT | SCALAR",
    "listSize": "directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: "
    "[String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION",
}
# SECURITY features Apollo Gateway (unlike Apollo Router and Hive Gateway) cannot enforce.
APOLLO_GATEWAY_UNSUPPORTED = frozenset({"authenticated", "requiresScopes", "policy"})
_SPEC_SCALARS = {"requiresScopes": "requiresScopes__Scope", "policy": "policy__Policy"}

_LINK_DIRECTIVE = (
    "directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) "
    "repeatable on SCHEMA"
)
_LINK_PURPOSE = '''enum link__Purpose {
  """
  `SECURITY` features provide metadata necessary to securely resolve fields.
  """
  SECURITY

  """
  `EXECUTION` features provide metadata necessary for operation execution.
  """
  EXECUTION
}'''


def _join_directives(version: str) -> dict[str, str]:
    field_args = (
        "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
        "external: Boolean, override: String, usedOverridden: Boolean"
    )
    if version >= "0.4":
        field_args += ", overrideLabel: String"
    if version >= "0.5":
        field_args += ", contextArguments: [join__ContextArgument!]"
    out = {
        "join__enumValue": "directive @join__enumValue(graph: join__Graph!) repeatable on "
        "ENUM_VALUE",
        "join__field": f"directive @join__field({field_args}) repeatable on FIELD_DEFINITION | "
        "INPUT_FIELD_DEFINITION",
        "join__graph": "directive @join__graph(name: String!, url: String!) on ENUM_VALUE",
        "join__implements": "directive @join__implements(graph: join__Graph!, interface: "
        "String!) repeatable on OBJECT | INTERFACE",
        "join__type": "directive @join__type(graph: join__Graph!, key: join__FieldSet, "
        "extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! "
        "= false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR",
        "join__unionMember": "directive @join__unionMember(graph: join__Graph!, member: "
        "String!) repeatable on UNION",
        "link": _LINK_DIRECTIVE,
    }
    if version >= "0.4":
        out["join__directive"] = (
            "directive @join__directive(graphs: [join__Graph!], name: String!, args: "
            "join__DirectiveArguments) repeatable on SCHEMA | OBJECT | INTERFACE | "
            "FIELD_DEFINITION"
        )
    return out


def _join_types(version: str) -> dict[str, str]:
    out = {"join__FieldSet": "scalar join__FieldSet", "link__Import": "scalar link__Import"}
    out["link__Purpose"] = _LINK_PURPOSE
    if version >= "0.4":
        out["join__DirectiveArguments"] = "scalar join__DirectiveArguments"
    if version >= "0.5":
        out["join__FieldValue"] = "scalar join__FieldValue"
        out["join__ContextArgument"] = (
            "input join__ContextArgument {\n  name: String!\n  type: String!\n"
            "  context: String!\n  selection: join__FieldValue!\n}"
        )
    return out


def _description(text: str | None, indentation: str = "", first_in_block: bool = True) -> str:
    if text is None:
        return ""
    block = print_block_string(text, len(text) > 70)
    prefix = "\n" + indentation if indentation and not first_in_block else indentation
    return prefix + block.replace("\n", "\n" + indentation) + "\n"


def _directives_inline(directives: list[Applied]) -> str:
    return "".join(" " + str(d) for d in directives)


def _directives_block(directives: list[Applied], end_with_newline: bool) -> str:
    if not directives:
        return ""
    text = "\n" + INDENT + ("\n" + INDENT).join(str(d) for d in directives)
    return text + ("\n" if end_with_newline else "")


def _arg(a: MergedArgument) -> str:
    default = f" = {a.default}" if a.default is not None else ""
    return f"{a.name}: {a.type}{default}{_directives_inline(a.directives)}"


def _args(args: list[MergedArgument], indentation: str) -> str:
    if not args:
        return ""
    if all(not a.description for a in args):
        return "(" + ", ".join(_arg(a) for a in args) + ")"
    lines = [
        _description(a.description, INDENT + indentation, i == 0) + INDENT + indentation + _arg(a)
        for i, a in enumerate(args)
    ]
    return "(\n" + "\n".join(lines) + "\n" + indentation + ")"


def _field(f: MergedField, input_field: bool) -> str:
    if input_field:
        default = f" = {f.default}" if f.default is not None else ""
        head = f"{f.name}: {f.type}{default}"
    else:
        head = f"{f.name}{_args(list(f.args.values()), INDENT)}: {f.type}"
    return head + _directives_inline(f.directives)


def _block(items: list[str]) -> str:
    return "{\n" + "\n".join(items) + "\n}" if items else ""


def _print_type(t: MergedType) -> str:
    desc = _description(t.description)
    if t.kind == SCALAR:
        return f"{desc}scalar {t.name}{_directives_block(t.directives, False)}"
    if t.kind in (OBJECT, INTERFACE):
        keyword = "type" if t.kind == OBJECT else "interface"
        implements = " implements " + " & ".join(t.interfaces) if t.interfaces else ""
        fields = [
            _description(f.description, INDENT, i == 0) + INDENT + _field(f, False)
            for i, f in enumerate(t.fields.values())
        ]
        return (
            f"{desc}{keyword} {t.name}{implements}"
            + _directives_block(t.directives, bool(fields))
            + (" " if not t.directives and fields else "")
            + _block(fields)
        )
    if t.kind == UNION:
        members = " = " + " | ".join(t.members) if t.members else ""
        return f"{desc}union {t.name}{_directives_block(t.directives, bool(t.members))}{members}"
    if t.kind == ENUM:
        values = [
            _description(v.description, INDENT, i == 0)
            + INDENT
            + v.name
            + _directives_inline(v.directives)
            for i, v in enumerate(t.values.values())
        ]
        return (
            f"{desc}enum {t.name}"
            + _directives_block(t.directives, bool(values))
            + (" " if not t.directives and values else "")
            + _block(values)
        )
    assert t.kind == INPUT_OBJECT
    fields = [
        _description(f.description, INDENT, i == 0) + INDENT + _field(f, True)
        for i, f in enumerate(t.fields.values())
    ]
    return (
        f"{desc}input {t.name}"
        + _directives_block(t.directives, bool(fields))
        + (" " if not t.directives and fields else "")
        + _block(fields)
    )


def _custom_definition(node: DirectiveDefinitionNode) -> str:
    # graphql-core prints a directive definition the same way graphql-js does.
    return print_ast(node)


def print_supergraph(model: SupergraphModel, *, apollo_gateway_compatible: bool = False) -> str:
    """Print the supergraph exactly as Apollo's composition would.

    With `apollo_gateway_compatible`, the router-only access-control features
    (`@authenticated`, `@requiresScopes`, `@policy`) are linked without `for: SECURITY`:
    Apollo Gateway refuses to load a supergraph with SECURITY features it cannot enforce, and
    ignores them when they are not marked so. Their directives stay in the supergraph for the
    gateways that enforce them; the services must enforce those rules themselves either way.
    """
    version = model.join_version
    used = model.used_spec_directives
    links = [
        Applied("link", (("url", string_value("https://specs.apollo.dev/link/v1.0")),)),
        Applied(
            "link",
            (
                ("url", string_value(f"https://specs.apollo.dev/join/v{version}")),
                ("for", "EXECUTION"),
            ),
        ),
    ]
    for name in model.feature_order:
        if name == "cost":
            if "cost" not in used and "listSize" not in used:
                continue
            cost_args: tuple[tuple[str, str], ...] = (
                ("url", string_value("https://specs.apollo.dev/cost/v0.1")),
            )
            if "listSize" in used:
                cost_args += (("import", '["@listSize"]'),)
            links.append(Applied("link", cost_args))
            continue
        spec_version, purpose = _FEATURES[name]
        args: tuple[tuple[str, str], ...] = (
            ("url", string_value(f"https://specs.apollo.dev/{name}/{spec_version}")),
        )
        if purpose is not None and not (
            apollo_gateway_compatible and name in APOLLO_GATEWAY_UNSUPPORTED
        ):
            args += (("for", purpose),)
        links.append(Applied("link", args))
    for feature in model.composed:
        imports = "[" + ", ".join(string_value("@" + d) for d in feature.directives) + "]"
        links.append(Applied("link", (("url", string_value(feature.url)), ("import", imports))))

    roots = [f"{INDENT}{kind}: {name}" for kind, name in model.roots.items()]
    schema = "schema" + _directives_block(links, True) + "{\n" + "\n".join(roots) + "\n}"

    directives = _join_directives(version)
    for name in _SPEC_DIRECTIVES:
        if name in used:
            directives[name] = _SPEC_DIRECTIVES[name]
    for feature in model.composed:
        for name in feature.directives:
            definition = feature.definitions.get(name)
            if definition is not None:
                directives[name] = _custom_definition(definition)

    types: dict[str, str] = _join_types(version)
    graph_values = [
        f"{INDENT}{g.enum_value} @join__graph(name: {string_value(g.name)}, "
        f"url: {string_value(g.url)})"
        for g in model.graphs
    ]
    types["join__Graph"] = "enum join__Graph {\n" + "\n".join(graph_values) + "\n}"
    for directive, scalar in _SPEC_SCALARS.items():
        if directive in used:
            types[scalar] = f"scalar {scalar}"
    for name, t in model.types.items():
        types[name] = _print_type(t)

    parts = [schema]
    parts += [directives[n] for n in sorted(directives, key=collation_key)]
    parts += [types[n] for n in sorted(types, key=collation_key)]
    return "\n\n".join(parts)
