"""Federation v2 supergraph: per-subgraph metadata and the client-facing API schema.

The supergraph SDL carries `@join__*` directives that say which subgraph (graph) defines
each type and resolves each field. Everything the planner needs is extracted once here,
so planning never looks at directives again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    OperationType,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    SelectionSetNode,
    TypeNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    build_ast_schema,
    parse,
    parse_type,
    print_ast,
    value_from_ast_untyped,
)
from graphql.language import DirectiveDefinitionNode

# Directives and types that belong to the federation machinery and never reach clients.
_MACHINERY_PREFIXES = ("join__", "link__", "link")
_BUILTIN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
# Directives stripped from the API schema (they describe composition, not the API).
_STRIP_DIRECTIVES = frozenset({"link", "inaccessible", "tag", "core"})


_POLICY_DIRECTIVES = frozenset(
    {"authenticated", "requiresScopes", "policy", "cost", "listSize", "tag"}
)


def _record_directive(out: dict[str, Any], name: str, d: DirectiveNode) -> None:
    args = _args(d)
    if name == "tag":
        out.setdefault("tag", []).append(args.get("name"))
    else:
        out[name] = args or True


def _policy_directives(node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in node.directives or ():
        if d.name.value in _POLICY_DIRECTIVES:
            _record_directive(out, d.name.value, d)
    return out


class SupergraphError(Exception):
    """The supergraph SDL is not a usable Federation v2 supergraph."""


@dataclass(slots=True)
class Key:
    """One `@key` of an entity in one subgraph."""

    fields: str
    selection: SelectionSetNode
    resolvable: bool


@dataclass(slots=True)
class FieldInGraph:
    """How one subgraph defines a field."""

    requires: SelectionSetNode | None = None
    provides: SelectionSetNode | None = None
    external: bool = False
    overridden: bool = False
    type_name: str | None = None  # the field's named type in that subgraph, when it differs
    type_str: str | None = None  # the full type in that subgraph, when it differs


@dataclass(slots=True)
class FieldMeta:
    name: str
    type_name: str  # the named (unwrapped) output type
    type_node: TypeNode
    type_str: str = ""
    # graph -> definition; a field is resolvable in a graph when it is present, not external
    # and not overridden there.
    graphs: dict[str, FieldInGraph] = field(default_factory=dict)
    resolvable_in: frozenset[str] = frozenset()
    inaccessible: bool = False
    args: tuple[str, ...] = ()
    # `@join__field` without a graph: the field comes only from an `@interfaceObject`.
    via_interface_object: bool = False
    # Access control and cost directives, by name (authenticated, requiresScopes, policy,
    # cost, listSize, tag): their arguments, for the enforcement layers to use.
    directives: dict[str, Any] = field(default_factory=dict)
    # argument name -> its directives (as `directives`; only `@cost` is read today)
    arg_directives: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class TypeMeta:
    name: str
    kind: str  # object | interface | union | enum | scalar | input
    graphs: set[str] = field(default_factory=set)
    keys: dict[str, list[Key]] = field(default_factory=dict)
    interface_object_in: set[str] = field(default_factory=set)
    fields: dict[str, FieldMeta] = field(default_factory=dict)
    # graph -> interfaces this object/interface implements in that graph
    implements: dict[str, set[str]] = field(default_factory=dict)
    # graph -> union members in that graph
    members: dict[str, set[str]] = field(default_factory=dict)
    all_interfaces: tuple[str, ...] = ()
    all_members: tuple[str, ...] = ()
    inaccessible: bool = False
    extension_in: set[str] = field(default_factory=set)
    directives: dict[str, Any] = field(default_factory=dict)  # as FieldMeta.directives
    # input object types: field name -> its directives (`@cost` on INPUT_FIELD_DEFINITION)
    input_field_directives: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class Graph:
    name: str  # enum value of join__Graph, e.g. ACCOUNTS
    subgraph: str  # the subgraph's own name, e.g. accounts
    url: str


def parse_selection(fields: str) -> SelectionSetNode:
    doc = parse("{" + fields + "}", no_location=True)
    op = doc.definitions[0]
    return op.selection_set  # type: ignore[attr-defined, no-any-return]


def named_type(node: TypeNode) -> str:
    while isinstance(node, NonNullTypeNode | ListTypeNode):
        node = node.type
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def _args(d: DirectiveNode) -> dict[str, Any]:
    return {a.name.value: value_from_ast_untyped(a.value) for a in d.arguments or ()}


class Supergraph:
    """Parsed supergraph: metadata per type/field/graph plus the API schema."""

    def __init__(self, sdl: str, url_overrides: Mapping[str, str] | None = None) -> None:
        self.sdl = sdl
        # Routing URLs by subgraph name (upper case), e.g. inside a cluster where the
        # composed localhost URLs do not apply.
        self._url_overrides = {k.upper(): v for k, v in (url_overrides or {}).items()}
        try:
            doc = parse(sdl, no_location=True)
        except Exception as exc:  # graphql-core raises GraphQLError with position info
            raise SupergraphError(f"cannot parse supergraph: {exc}") from exc
        self.graphs: dict[str, Graph] = {}
        self.types: dict[str, TypeMeta] = {}
        self.root_types: dict[str, str] = {
            "query": "Query",
            "mutation": "Mutation",
            "subscription": "Subscription",
        }
        self._read(doc)
        self.api_schema: GraphQLSchema = self._build_api_schema(doc)
        self._finish()

    # -- reading -------------------------------------------------------------------------

    def _read(self, doc: DocumentNode) -> None:
        for d in doc.definitions:
            if isinstance(d, SchemaDefinitionNode | SchemaExtensionNode):
                for op in d.operation_types or ():
                    self.root_types[op.operation.value] = op.type.name.value
            if isinstance(d, EnumTypeDefinitionNode) and d.name.value == "join__Graph":
                for v in d.values or ():
                    for dd in v.directives or ():
                        if dd.name.value == "join__graph":
                            a = _args(dd)
                            subgraph = str(a.get("name", v.name.value))
                            url = self._url_overrides.get(
                                subgraph.upper()
                            ) or self._url_overrides.get(v.name.value.upper(), str(a.get("url")))
                            self.graphs[v.name.value] = Graph(v.name.value, subgraph, url)
        if not self.graphs:
            raise SupergraphError("supergraph declares no join__Graph values")
        all_graphs = set(self.graphs)
        # Collect definitions and extensions per type name.
        defs: dict[str, list[Any]] = {}
        for d in doc.definitions:
            name = getattr(getattr(d, "name", None), "value", None)
            if name is None or isinstance(d, DirectiveDefinitionNode):
                continue
            if name.startswith(("join__", "link__")) or name in _BUILTIN_SCALARS:
                continue
            defs.setdefault(name, []).append(d)
        for name, nodes in defs.items():
            kind = _kind(nodes[0])
            tm = TypeMeta(name=name, kind=kind)
            self.types[name] = tm
            for node in nodes:
                for dd in node.directives or ():
                    dn = dd.name.value
                    if dn == "join__type":
                        a = _args(dd)
                        g = str(a["graph"])
                        tm.graphs.add(g)
                        if a.get("key") is not None:
                            tm.keys.setdefault(g, []).append(
                                Key(
                                    str(a["key"]),
                                    parse_selection(str(a["key"])),
                                    a.get("resolvable", True) is not False,
                                )
                            )
                        if a.get("isInterfaceObject"):
                            tm.interface_object_in.add(g)
                        if a.get("extension"):
                            tm.extension_in.add(g)
                    elif dn == "join__implements":
                        a = _args(dd)
                        tm.implements.setdefault(str(a["graph"]), set()).add(str(a["interface"]))
                    elif dn == "join__unionMember":
                        a = _args(dd)
                        tm.members.setdefault(str(a["graph"]), set()).add(str(a["member"]))
                    elif dn == "inaccessible":
                        tm.inaccessible = True
                    elif dn in _POLICY_DIRECTIVES:
                        _record_directive(tm.directives, dn, dd)
                if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
                    tm.all_interfaces = tuple(i.name.value for i in node.interfaces or ())
                if isinstance(node, UnionTypeDefinitionNode):
                    tm.all_members = tuple(t.name.value for t in node.types or ())
                for fd in getattr(node, "fields", None) or ():
                    if isinstance(fd, FieldDefinitionNode):
                        self._read_field(tm, fd)
                    elif isinstance(fd, InputValueDefinitionNode):
                        got = _policy_directives(fd)
                        if got:
                            tm.input_field_directives[fd.name.value] = got
            if not tm.graphs:
                tm.graphs = set(all_graphs)
        # Fields without @join__field live in every graph that defines their parent type.
        for tm in self.types.values():
            for fm in tm.fields.values():
                if not fm.graphs and not fm.via_interface_object:
                    fm.graphs = {g: FieldInGraph() for g in tm.graphs}
                fm.resolvable_in = frozenset(
                    g for g, fg in fm.graphs.items() if not fg.external and not fg.overridden
                )

    def _read_field(self, tm: TypeMeta, fd: FieldDefinitionNode) -> None:
        fm = FieldMeta(
            name=fd.name.value,
            type_name=named_type(fd.type),
            type_node=fd.type,
            type_str=print_ast(fd.type),
            args=tuple(a.name.value for a in fd.arguments or ()),
        )
        for dd in fd.directives or ():
            dn = dd.name.value
            if dn == "join__field":
                a = _args(dd)
                g = a.get("graph")
                if g is None:
                    fm.via_interface_object = True
                    continue
                fg = FieldInGraph(
                    requires=parse_selection(a["requires"]) if a.get("requires") else None,
                    provides=parse_selection(a["provides"]) if a.get("provides") else None,
                    external=bool(a.get("external")),
                    overridden=bool(a.get("usedOverridden")),
                    type_name=named_type(parse_type(a["type"])) if a.get("type") else None,
                    type_str=str(a["type"]) if a.get("type") else None,
                )
                fm.graphs[str(g)] = fg
            elif dn == "inaccessible":
                fm.inaccessible = True
            elif dn in _POLICY_DIRECTIVES:
                _record_directive(fm.directives, dn, dd)
        for arg in fd.arguments or ():
            got = _policy_directives(arg)
            if got:
                fm.arg_directives[arg.name.value] = got
        tm.fields[fm.name] = fm

    def _finish(self) -> None:
        # Possible object types of every abstract type, overall and per graph.
        self.possible: dict[str, tuple[str, ...]] = {}
        self.possible_in: dict[tuple[str, str], frozenset[str]] = {}
        for name, tm in self.types.items():
            if tm.kind == "union":
                self.possible[name] = tm.all_members
                for g in tm.graphs:
                    mem = tm.members.get(g)
                    if mem is None and not tm.members:
                        mem = {m for m in tm.all_members if g in self.types[m].graphs}
                    self.possible_in[(name, g)] = frozenset(mem or ())
            elif tm.kind == "interface":
                impls = [
                    t.name
                    for t in self.types.values()
                    if t.kind == "object" and name in t.all_interfaces
                ]
                self.possible[name] = tuple(impls)
                for g in tm.graphs:
                    got = set()
                    for t in impls:
                        ot = self.types[t]
                        if ot.implements:
                            if name in ot.implements.get(g, ()):
                                got.add(t)
                        elif g in ot.graphs:
                            got.add(t)
                    self.possible_in[(name, g)] = frozenset(got)

    def graph_for_subgraph_name(self, name: str) -> str | None:
        for g in self.graphs.values():
            if g.subgraph == name:
                return g.name
        return None

    # -- API schema ----------------------------------------------------------------------

    def _build_api_schema(self, doc: DocumentNode) -> GraphQLSchema:
        inaccessible_types = {n for n, t in self.types.items() if t.inaccessible}
        keep: list[Any] = []
        for d in doc.definitions:
            if isinstance(d, DirectiveDefinitionNode):
                n = d.name.value
                if (
                    n.startswith(("join__", "link__"))
                    or n in _STRIP_DIRECTIVES
                    or n in ("authenticated", "requiresScopes", "policy", "cost", "listSize")
                ):
                    continue
                keep.append(_strip(d))
                continue
            if isinstance(d, SchemaDefinitionNode | SchemaExtensionNode):
                keep.append(_strip(d))
                continue
            name = getattr(getattr(d, "name", None), "value", None)
            if name is None:
                continue
            if name.startswith(("join__", "link__")) or name in inaccessible_types:
                continue
            keep.append(_strip_type(d, inaccessible_types))
        api_doc = DocumentNode(definitions=tuple(keep))
        try:
            return build_ast_schema(api_doc, assume_valid_sdl=True)
        except Exception as exc:
            raise SupergraphError(f"cannot build the API schema: {exc}") from exc


def _kind(node: Any) -> str:
    if isinstance(node, ObjectTypeDefinitionNode | ObjectTypeExtensionNode):
        return "object"
    if isinstance(node, InterfaceTypeDefinitionNode | InterfaceTypeExtensionNode):
        return "interface"
    if isinstance(node, UnionTypeDefinitionNode | UnionTypeExtensionNode):
        return "union"
    if isinstance(node, EnumTypeDefinitionNode | EnumTypeExtensionNode):
        return "enum"
    if isinstance(node, InputObjectTypeDefinitionNode | InputObjectTypeExtensionNode):
        return "input"
    if isinstance(node, ScalarTypeDefinitionNode):
        return "scalar"
    return "other"


def _is_inaccessible(node: Any) -> bool:
    return any(d.name.value == "inaccessible" for d in node.directives or ())


def _clean_directives(node: Any) -> tuple[Any, ...]:
    return tuple(
        d
        for d in node.directives or ()
        if not d.name.value.startswith(("join__", "link__"))
        and d.name.value not in _STRIP_DIRECTIVES
        and d.name.value not in ("authenticated", "requiresScopes", "policy", "cost", "listSize")
    )


def _strip(node: Any) -> Any:
    kw = {k: getattr(node, k) for k in node.keys if k != "loc"}
    if "directives" in kw:
        kw["directives"] = _clean_directives(node)
    return type(node)(**kw)


def _references(t: TypeNode, hidden: set[str]) -> bool:
    return named_type(t) in hidden


def _strip_type(node: Any, hidden: set[str]) -> Any:
    kw = {k: getattr(node, k) for k in node.keys if k != "loc"}
    if "directives" in kw:
        kw["directives"] = _clean_directives(node)
    if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
        kw["fields"] = tuple(
            _strip_field(f, hidden)
            for f in node.fields or ()
            if not _is_inaccessible(f) and not _references(f.type, hidden)
        )
        kw["interfaces"] = tuple(i for i in node.interfaces or () if i.name.value not in hidden)
    elif isinstance(node, InputObjectTypeDefinitionNode):
        kw["fields"] = tuple(
            _strip(f)
            for f in node.fields or ()
            if not _is_inaccessible(f) and not _references(f.type, hidden)
        )
    elif isinstance(node, UnionTypeDefinitionNode):
        kw["types"] = tuple(t for t in node.types or () if t.name.value not in hidden)
    elif isinstance(node, EnumTypeDefinitionNode):
        kw["values"] = tuple(_strip(v) for v in node.values or () if not _is_inaccessible(v))
    return type(node)(**kw)


def _strip_field(f: FieldDefinitionNode, hidden: set[str]) -> FieldDefinitionNode:
    args: list[InputValueDefinitionNode] = [
        _strip(a)
        for a in f.arguments or ()
        if not _is_inaccessible(a) and not _references(a.type, hidden)
    ]
    return FieldDefinitionNode(
        name=f.name,
        description=f.description,
        arguments=tuple(args),
        type=f.type,
        directives=_clean_directives(f),
    )


__all__ = [
    "EnumValueDefinitionNode",
    "FieldInGraph",
    "FieldMeta",
    "Graph",
    "Key",
    "OperationType",
    "Supergraph",
    "SupergraphError",
    "TypeMeta",
    "named_type",
    "parse_selection",
]
