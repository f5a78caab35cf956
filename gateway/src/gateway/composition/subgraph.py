"""Reading one Federation v2 subgraph SDL (its `_service { sdl }`) into a compact model.

The reader resolves the subgraph's `@link` imports, so a renamed or namespaced federation
directive (`@primaryKey`, `@federation__key`) ends up under its canonical name (`key`), folds
type extensions into their type, drops the federation machinery (`_Service`, `_entities`,
`link__*`, ...), renames non-default root types to `Query`/`Mutation`/`Subscription`, and
validates the federation directives that only need this one subgraph (`@key`, `@requires`,
`@provides` field sets, `@external` usage).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from graphql import (
    BooleanValueNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    EnumValueNode,
    FieldDefinitionNode,
    FieldNode,
    FloatValueNode,
    GraphQLSyntaxError,
    InlineFragmentNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ObjectValueNode,
    OperationDefinitionNode,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    SelectionSetNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    ValueNode,
    parse,
    parse_value,
)

from gateway.composition._syntax import Applied, TypeRef, print_value, rename_base, type_ref
from gateway.composition.errors import CompositionIssue

FEDERATION_SPEC_PREFIX = "https://specs.apollo.dev/federation/v"
# Every directive the federation spec (up to v2.12) defines, by its name in the spec.
FEDERATION_DIRECTIVES = (
    "key",
    "requires",
    "provides",
    "external",
    "tag",
    "extends",
    "shareable",
    "inaccessible",
    "override",
    "composeDirective",
    "interfaceObject",
    "authenticated",
    "requiresScopes",
    "policy",
    "context",
    "fromContext",
    "cost",
    "listSize",
    "cacheTag",
)
BUILTIN_DIRECTIVES = frozenset({"deprecated", "specifiedBy", "include", "skip", "oneOf"})
_MACHINERY_TYPES = frozenset({"_Any", "_Entity", "_Service", "_FieldSet", "_Entities"})
_ROOT_KINDS = ("query", "mutation", "subscription")
_DEFAULT_ROOT_NAMES = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
_VERSION_RE = re.compile(r"/v(\d+)\.(\d+)$")

OBJECT = "OBJECT"
INTERFACE = "INTERFACE"
UNION = "UNION"
ENUM = "ENUM"
INPUT_OBJECT = "INPUT_OBJECT"
SCALAR = "SCALAR"

_KIND_OF_NODE: dict[type, str] = {
    ObjectTypeDefinitionNode: OBJECT,
    ObjectTypeExtensionNode: OBJECT,
    InterfaceTypeDefinitionNode: INTERFACE,
    InterfaceTypeExtensionNode: INTERFACE,
    UnionTypeDefinitionNode: UNION,
    UnionTypeExtensionNode: UNION,
    EnumTypeDefinitionNode: ENUM,
    EnumTypeExtensionNode: ENUM,
    InputObjectTypeDefinitionNode: INPUT_OBJECT,
    InputObjectTypeExtensionNode: INPUT_OBJECT,
    ScalarTypeDefinitionNode: SCALAR,
    ScalarTypeExtensionNode: SCALAR,
}

KIND_LABELS = {
    OBJECT: "Object Type",
    INTERFACE: "Interface Type",
    UNION: "Union Type",
    ENUM: "Enum Type",
    INPUT_OBJECT: "Input Object Type",
    SCALAR: "Scalar Type",
}


@dataclass(frozen=True, slots=True)
class SubgraphSource:
    """The input of composition for one subgraph: its name, routing URL and SDL."""

    name: str
    url: str
    sdl: str


@dataclass(slots=True)
class Argument:
    name: str
    type: TypeRef
    default: str | None
    description: str | None
    directives: list[Applied]


@dataclass(slots=True)
class Field:
    """A field of an object or interface type, or an input field (then `args` is empty)."""

    parent: str
    name: str
    type: TypeRef
    description: str | None
    args: dict[str, Argument]
    directives: list[Applied]
    block: int  # which definition/extension block of the parent declared it
    default: str | None = None

    @property
    def coordinate(self) -> str:
        return f"{self.parent}.{self.name}"

    def applied(self, name: str) -> Applied | None:
        return next((d for d in self.directives if d.name == name), None)


@dataclass(slots=True)
class EnumValue:
    name: str
    description: str | None
    directives: list[Applied]


@dataclass(slots=True)
class Key:
    fields: str
    args: tuple[tuple[str, str], ...]  # printed arguments of the @key application
    extension: bool

    @property
    def resolvable(self) -> bool:
        return dict(self.args).get("resolvable", "true") != "false"


@dataclass(slots=True)
class NamedType:
    name: str
    kind: str
    description: str | None = None
    # Applied directives with the index of the block (definition or extension) they sit on.
    directives: list[tuple[Applied, int]] = field(default_factory=list)
    block_is_extension: list[bool] = field(default_factory=list)
    fields: dict[str, Field] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, EnumValue] = field(default_factory=dict)

    def applied(self, name: str) -> list[Applied]:
        return [d for d, _ in self.directives if d.name == name]

    def has(self, name: str) -> bool:
        return any(d.name == name for d, _ in self.directives)

    @property
    def has_definition(self) -> bool:
        return not all(self.block_is_extension)


@dataclass(slots=True)
class ComposedDirective:
    """A custom directive the subgraph asks to keep in the supergraph (`@composeDirective`)."""

    name: str
    url: str | None
    definition: DirectiveDefinitionNode | None


class Subgraph:
    """One subgraph, read and validated. Build it with `read_subgraph`."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.federation_version: tuple[int, int] = (2, 0)
        self.types: dict[str, NamedType] = {}
        self.roots: dict[str, str] = {}  # "query" -> "Query" when the subgraph has that root
        self.keys: dict[str, list[Key]] = {}
        self.interface_objects: set[str] = set()
        self.composed: list[ComposedDirective] = []
        self.external: set[str] = set()
        self.shareable: set[str] = set()
        self.provided: set[str] = set()
        self.used: set[str] = set()
        self.applied_names: set[str] = set()  # every directive applied anywhere in the subgraph

    def type(self, name: str) -> NamedType | None:
        return self.types.get(name)

    def field(self, type_name: str, field_name: str) -> Field | None:
        t = self.types.get(type_name)
        return t.fields.get(field_name) if t is not None else None

    def is_external(self, f: Field) -> bool:
        return f.coordinate in self.external

    def is_fully_external(self, f: Field) -> bool:
        return f.coordinate in self.external and f.coordinate not in self.provided

    def is_shareable(self, f: Field) -> bool:
        return f.coordinate in self.shareable

    def implementations(self, interface: str) -> list[str]:
        return [
            t.name for t in self.types.values() if t.kind == OBJECT and interface in t.interfaces
        ]


class _Names:
    """Maps the directive names used in one subgraph to canonical federation names."""

    def __init__(self) -> None:
        self.local_to_canonical: dict[str, str] = {}
        self.imported_types: set[str] = set()
        self.prefixes: set[str] = {"federation", "link"}
        self.link_urls_by_directive: dict[str, str] = {}

    def canonical(self, local: str) -> str:
        return self.local_to_canonical.get(local, local)


def _string_arg(node: DirectiveNode, name: str) -> str | None:
    for arg in node.arguments or ():
        if arg.name.value == name and isinstance(arg.value, StringValueNode):
            return arg.value.value
    return None


def _arg_node(node: DirectiveNode, name: str) -> ValueNode | None:
    for arg in node.arguments or ():
        if arg.name.value == name:
            return arg.value
    return None


def _imports(node: DirectiveNode) -> list[tuple[str, str]]:
    """`import:` entries of a `@link` as (name in spec, local name), with the `@` kept."""
    value = _arg_node(node, "import")
    out: list[tuple[str, str]] = []
    if not isinstance(value, ListValueNode):
        return out
    for item in value.values:
        if isinstance(item, StringValueNode):
            out.append((item.value, item.value))
        elif isinstance(item, ObjectValueNode):
            entries = {
                f.name.value: f.value.value
                for f in item.fields
                if isinstance(f.value, StringValueNode)
            }
            if "name" in entries:
                out.append((entries["name"], entries.get("as", entries["name"])))
    return out


def _spec_name(url: str) -> str:
    # https://specs.apollo.dev/federation/v2.3 -> federation ; https://x.dev/custom/v1.0 -> custom
    parts = [p for p in url.rstrip("/").split("/") if p]
    if len(parts) >= 2 and _VERSION_RE.search("/" + parts[-1]):
        return parts[-2]
    return parts[-1] if parts else url


def _link_directives(doc: DocumentNode) -> Iterator[DirectiveNode]:
    for definition in doc.definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            yield from definition.directives or ()


def _resolve_names(doc: DocumentNode, subgraph: Subgraph, issues: list[CompositionIssue]) -> _Names:
    names = _Names()
    fed_link: DirectiveNode | None = None
    for directive in _link_directives(doc):
        if directive.name.value != "link":
            continue
        url = _string_arg(directive, "url") or ""
        if url.startswith(FEDERATION_SPEC_PREFIX):
            fed_link = directive
            continue
        # Other linked features: remember where each imported directive comes from, for
        # `@composeDirective`.
        alias = _string_arg(directive, "as") or _spec_name(url)
        names.prefixes.add(alias)
        for original, local in _imports(directive):
            if original.startswith("@"):
                names.link_urls_by_directive[local[1:]] = url
        names.link_urls_by_directive.setdefault(alias, url)
    if fed_link is None:
        issues.append(
            CompositionIssue(
                "UNSUPPORTED_FEDERATION_VERSION",
                f"[{subgraph.name}] The subgraph does not @link the federation spec "
                f'("{FEDERATION_SPEC_PREFIX}2.x"): Federation 1 subgraphs are not supported.',
            )
        )
        for name in FEDERATION_DIRECTIVES:
            names.local_to_canonical[name] = name
        return names
    url = _string_arg(fed_link, "url") or ""
    match = _VERSION_RE.search(url)
    if match:
        subgraph.federation_version = (int(match.group(1)), int(match.group(2)))
    prefix = _string_arg(fed_link, "as") or "federation"
    names.prefixes.add(prefix)
    imported: dict[str, str] = {}
    for original, local in _imports(fed_link):
        if original.startswith("@"):
            imported[original[1:]] = local.lstrip("@")
        else:
            names.imported_types.add(local)
    for name in FEDERATION_DIRECTIVES:
        names.local_to_canonical[f"{prefix}__{name}"] = name
        if name in imported:
            names.local_to_canonical[imported[name]] = name
    return names


def _description(node: object) -> str | None:
    desc = getattr(node, "description", None)
    return desc.value if desc is not None else None


def _applied(node: DirectiveNode, names: _Names) -> Applied:
    return Applied(
        names.canonical(node.name.value),
        tuple((a.name.value, print_value(a.value)) for a in node.arguments or ()),
    )


def _is_machinery_type(name: str, names: _Names) -> bool:
    if name in _MACHINERY_TYPES or name in names.imported_types:
        return True
    return any(name.startswith(prefix + "__") for prefix in names.prefixes)


def read_subgraph(source: SubgraphSource) -> tuple[Subgraph, list[CompositionIssue]]:
    """Read one subgraph; returns it with the problems found in it alone."""
    subgraph = Subgraph(source.name, source.url)
    issues: list[CompositionIssue] = []
    try:
        doc = parse(source.sdl)
    except GraphQLSyntaxError as exc:
        issues.append(CompositionIssue("INVALID_GRAPHQL", f"[{source.name}] {exc.message}"))
        return subgraph, issues
    names = _resolve_names(doc, subgraph, issues)

    # Root types: `schema { query: MyQuery }` is renamed to the default names, as Apollo does.
    renames: dict[str, str] = {}
    for definition in doc.definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            for op in definition.operation_types or ():
                kind = op.operation.value
                renames[op.type.name.value] = _DEFAULT_ROOT_NAMES[kind]

    directive_definitions: dict[str, DirectiveDefinitionNode] = {}
    defined: set[str] = set()
    for definition in doc.definitions:
        if isinstance(definition, DirectiveDefinitionNode):
            directive_definitions[definition.name.value] = definition
        elif isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            type_name = definition.name.value
            if _is_machinery_type(type_name, names):
                continue
            if isinstance(definition, TypeDefinitionNode):
                if type_name in defined:
                    issues.append(
                        CompositionIssue(
                            "INVALID_GRAPHQL",
                            f'[{source.name}] There can be only one type named "{type_name}"',
                        )
                    )
                    continue
                defined.add(type_name)
            name = renames.get(type_name, type_name)
            for field_name in _add_block(subgraph, definition, name, names, renames):
                issues.append(
                    CompositionIssue(
                        "INVALID_GRAPHQL",
                        f"[{source.name}] Field {field_name} already exists on {name}",
                    )
                )

    for kind, default in _DEFAULT_ROOT_NAMES.items():
        if default in subgraph.types:
            subgraph.roots[kind] = default
    # Every subgraph answers `_service` (and `_entities`) on its query root, so each one has a
    # query type even when it declares no query field of its own.
    if "Query" not in subgraph.types:
        subgraph.types["Query"] = NamedType("Query", OBJECT, block_is_extension=[False])
        subgraph.roots["query"] = "Query"

    _collect_composed_directives(doc, subgraph, names, directive_definitions, issues)
    for t in subgraph.types.values():
        subgraph.applied_names.update(d.name for d, _ in t.directives)
        for f in t.fields.values():
            subgraph.applied_names.update(d.name for d in f.directives)
            for a in f.args.values():
                subgraph.applied_names.update(d.name for d in a.directives)
        for v in t.values.values():
            subgraph.applied_names.update(d.name for d in v.directives)
    if _check_references(subgraph, issues):
        _analyse(subgraph, issues)
    return subgraph, issues


_BUILTIN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})


def _check_references(subgraph: Subgraph, issues: list[CompositionIssue]) -> bool:
    """Every referenced type must be defined in the subgraph itself (as GraphQL requires)."""
    unknown: list[str] = []

    def see(name: str) -> None:
        if name not in subgraph.types and name not in _BUILTIN_SCALARS and name not in unknown:
            unknown.append(name)

    for t in subgraph.types.values():
        for f in t.fields.values():
            see(f.type.base)
            for a in f.args.values():
                see(a.type.base)
        for name in (*t.interfaces, *t.members):
            see(name)
    for name in unknown:
        issues.append(CompositionIssue("INVALID_GRAPHQL", f"[{subgraph.name}] Unknown type {name}"))
    if unknown:
        return False
    for t in subgraph.types.values():
        for f in t.fields.values():
            if f.default is not None:
                _check_default(subgraph, f.type, f.default, f"input field {f.coordinate}", issues)
            for a in f.args.values():
                if a.default is not None:
                    where = f"argument {f.coordinate}({a.name}:)"
                    _check_default(subgraph, a.type, a.default, where, issues)
    return True


def _check_default(
    subgraph: Subgraph, ref: TypeRef, printed: str, where: str, issues: list[CompositionIssue]
) -> None:
    """Literal defaults must fit their type (scalars and enums are checked; objects are not)."""
    value = parse_value(printed)
    if not _value_fits(subgraph, ref, value):
        got = json.dumps(value.value) if isinstance(value, EnumValueNode) else printed
        issues.append(
            CompositionIssue(
                "INVALID_GRAPHQL",
                f"[{subgraph.name}] Invalid default value (got: {got}) provided for {where} of "
                f"type {ref.base}.",
            )
        )


def _value_fits(subgraph: Subgraph, ref: TypeRef, value: ValueNode) -> bool:
    if isinstance(value, NullValueNode):
        return not ref.is_non_null
    if ref.kind == "non_null":
        assert ref.of is not None
        return _value_fits(subgraph, ref.of, value)
    if ref.kind == "list":
        assert ref.of is not None
        items = value.values if isinstance(value, ListValueNode) else (value,)
        return all(_value_fits(subgraph, ref.of, item) for item in items)
    name = ref.name
    if name in ("Int", "Float", "String", "Boolean", "ID"):
        allowed: dict[str, tuple[type, ...]] = {
            "Int": (IntValueNode,),
            "Float": (IntValueNode, FloatValueNode),
            "String": (StringValueNode,),
            "Boolean": (BooleanValueNode,),
            "ID": (StringValueNode, IntValueNode),
        }
        return isinstance(value, allowed[name])
    t = subgraph.types.get(name)
    if t is not None and t.kind == ENUM:
        return isinstance(value, EnumValueNode) and value.value in t.values
    return True


def _add_block(
    subgraph: Subgraph,
    node: TypeDefinitionNode | TypeExtensionNode,
    name: str,
    names: _Names,
    renames: dict[str, str],
) -> list[str]:
    """Fold one definition or extension into its type; returns fields defined twice."""
    kind = _KIND_OF_NODE[type(node)]
    is_extension = isinstance(node, TypeExtensionNode)
    t = subgraph.types.get(name)
    if t is None:
        t = NamedType(name, kind)
        subgraph.types[name] = t
    block = len(t.block_is_extension)
    t.block_is_extension.append(is_extension)
    if not is_extension and t.description is None:
        t.description = _description(node)
    for directive in getattr(node, "directives", None) or ():
        t.directives.append((_applied(directive, names), block))

    for itf in getattr(node, "interfaces", None) or ():
        if itf.name.value not in t.interfaces:
            t.interfaces.append(itf.name.value)
    for member in getattr(node, "types", None) or ():
        if member.name.value not in t.members:
            t.members.append(member.name.value)
    for value in getattr(node, "values", None) or ():
        t.values[value.name.value] = EnumValue(
            value.name.value,
            _description(value),
            [_applied(d, names) for d in value.directives or ()],
        )
    duplicates: list[str] = []
    for fnode in getattr(node, "fields", None) or ():
        if name == "Query" and fnode.name.value in ("_service", "_entities"):
            continue
        if fnode.name.value in t.fields:
            duplicates.append(fnode.name.value)
            continue
        t.fields[fnode.name.value] = _field(name, fnode, block, names, renames)
    return duplicates


def _argument(node: InputValueDefinitionNode, names: _Names, renames: dict[str, str]) -> Argument:
    return Argument(
        node.name.value,
        rename_base(type_ref(node.type), renames),
        print_value(node.default_value) if node.default_value is not None else None,
        _description(node),
        [_applied(d, names) for d in node.directives or ()],
    )


def _field(
    parent: str,
    node: FieldDefinitionNode | InputValueDefinitionNode,
    block: int,
    names: _Names,
    renames: dict[str, str],
) -> Field:
    args: dict[str, Argument] = {}
    default: str | None = None
    if isinstance(node, FieldDefinitionNode):
        for arg in node.arguments or ():
            args[arg.name.value] = _argument(arg, names, renames)
    elif node.default_value is not None:
        default = print_value(node.default_value)
    return Field(
        parent=parent,
        name=node.name.value,
        type=rename_base(type_ref(node.type), renames),
        description=_description(node),
        args=args,
        directives=[_applied(d, names) for d in node.directives or ()],
        block=block,
        default=default,
    )


def _collect_composed_directives(
    doc: DocumentNode,
    subgraph: Subgraph,
    names: _Names,
    definitions: dict[str, DirectiveDefinitionNode],
    issues: list[CompositionIssue],
) -> None:
    for directive in _link_directives(doc):
        if names.canonical(directive.name.value) != "composeDirective":
            continue
        raw = _string_arg(directive, "name") or ""
        if not raw.startswith("@"):
            issues.append(
                CompositionIssue(
                    "DIRECTIVE_COMPOSITION_ERROR",
                    f'[{subgraph.name}] Argument to @composeDirective "{raw}" '
                    'in subgraph must have a leading "@"',
                )
            )
            continue
        name = raw[1:]
        url = names.link_urls_by_directive.get(name)
        if url is None and "__" in name:
            url = names.link_urls_by_directive.get(name.split("__", 1)[0])
        if url is None:
            issues.append(
                CompositionIssue(
                    "DIRECTIVE_COMPOSITION_ERROR",
                    f'[{subgraph.name}] Directive "{raw}" in subgraph "{subgraph.name}" cannot be '
                    "composed because it is not a member of a core feature",
                )
            )
            continue
        subgraph.composed.append(ComposedDirective(name, url, definitions.get(name)))


# --- field sets (@key / @requires / @provides) ------------------------------------------------


def parse_field_set(fields: str) -> SelectionSetNode:
    doc = parse("{" + fields + "}", no_location=True)
    operation = doc.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.selection_set


def _walk_field_set(
    subgraph: Subgraph,
    parent: str,
    selection_set: SelectionSetNode,
    on_field: Callable[[Field, bool], None],
    problems: list[tuple[str | None, str]],
    directive: str,
    external_parent: bool = False,
) -> None:
    """Visit the fields a field set selects, collecting (code or None, message) problems."""
    t = subgraph.types.get(parent)
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            target = selection.type_condition.name.value if selection.type_condition else parent
            if target not in subgraph.types:
                problems.append((None, f'Unknown type "{target}"'))
                continue
            _walk_field_set(
                subgraph,
                target,
                selection.selection_set,
                on_field,
                problems,
                directive,
                external_parent,
            )
            continue
        if not isinstance(selection, FieldNode):
            problems.append((None, "fragment spreads are not allowed in field sets"))
            continue
        fname = selection.name.value
        if fname == "__typename":
            continue
        f = t.fields.get(fname) if t is not None else None
        if f is None:
            problems.append((None, f'Cannot query field "{fname}" on type "{parent}"'))
            continue
        target_type = subgraph.types.get(f.type.base)
        composite = target_type is not None and target_type.kind in (OBJECT, INTERFACE, UNION)
        if f.args and directive != "requires":
            problems.append(
                (
                    f"{directive.upper()}_FIELDS_HAS_ARGS",
                    f"field {f.coordinate} cannot be included because it has arguments (fields "
                    f"with argument are not allowed in @{directive})",
                )
            )
        if (
            directive == "key"
            and target_type is not None
            and target_type.kind
            in (
                INTERFACE,
                UNION,
            )
        ):
            label = "Interface" if target_type.kind == INTERFACE else "Union"
            problems.append(
                (
                    "KEY_FIELDS_SELECT_INVALID_TYPE",
                    f'field "{f.coordinate}" is a {label} type which is not allowed in @key',
                )
            )
        if composite and selection.selection_set is None:
            problems.append(
                (
                    None,
                    f'Invalid empty selection set for field "{f.coordinate}" of non-leaf type '
                    f"{f.type}",
                )
            )
        if not composite and selection.selection_set is not None:
            problems.append(
                (None, f'Field "{f.coordinate}" of type "{f.type}" cannot have a selection set')
            )
        on_field(f, external_parent)
        if selection.selection_set is not None and composite:
            _walk_field_set(
                subgraph,
                f.type.base,
                selection.selection_set,
                on_field,
                problems,
                directive,
                external_parent or _maybe_external(subgraph, f),
            )


def _maybe_external(subgraph: Subgraph, f: Field) -> bool:
    """Whether `f` is external, or, on an interface, external in one of its implementations."""
    if f.coordinate in subgraph.external:
        return True
    parent = subgraph.types.get(f.parent)
    if parent is None or parent.kind != INTERFACE:
        return False
    return any(
        f"{impl}.{f.name}" in subgraph.external for impl in subgraph.implementations(f.parent)
    )


def _analyse(subgraph: Subgraph, issues: list[CompositionIssue]) -> None:
    """Compute external/shareable/used fields and validate the field sets."""
    name = subgraph.name
    for t in subgraph.types.values():
        if t.kind not in (OBJECT, INTERFACE):
            continue
        if t.has("interfaceObject"):
            subgraph.interface_objects.add(t.name)
        is_extends = t.has("extends")
        keys: list[Key] = []
        for directive, block in t.directives:
            if directive.name != "key":
                continue
            fields_value = _unquote(directive.arg("fields"))
            extension = t.block_is_extension[block] or is_extends
            keys.append(Key(fields_value or "", directive.args, extension))
        if keys:
            subgraph.keys[t.name] = keys
        external_blocks = {block for d, block in t.directives if d.name == "external"}
        shareable_blocks = {block for d, block in t.directives if d.name == "shareable"}
        for f in t.fields.values():
            if f.applied("external") is not None or (
                t.kind == OBJECT and f.block in external_blocks
            ):
                subgraph.external.add(f.coordinate)
            if f.applied("shareable") is not None or f.block in shareable_blocks:
                subgraph.shareable.add(f.coordinate)

    # Key fields: validated, shareable and "used". Key fields of extension types marked
    # @external are not really external (a Federation 1 idiom Apollo keeps accepting).
    for type_name, keys in subgraph.keys.items():
        for key in keys:
            coords = _field_set_coordinates(
                subgraph,
                type_name,
                key.fields,
                f'On type "{type_name}", for @key(fields: {_quote(key.fields)})',
                "KEY_INVALID_FIELDS",
                issues,
            )
            for coord in coords:
                subgraph.shareable.add(coord)
                subgraph.used.add(coord)
                if key.extension:
                    subgraph.external.discard(coord)

    for t in list(subgraph.types.values()):
        if t.kind not in (OBJECT, INTERFACE):
            continue
        for f in t.fields.values():
            _analyse_requires(subgraph, t.name, f, issues)
            _analyse_provides(subgraph, f, issues)
        # Fields an object declares to satisfy one of its interfaces count as used.
        for itf in t.interfaces:
            itf_type = subgraph.types.get(itf)
            if itf_type is not None:
                for fname in itf_type.fields:
                    if fname in t.fields:
                        subgraph.used.add(f"{t.name}.{fname}")

    for t in subgraph.types.values():
        for f in t.fields.values():
            coord = f.coordinate
            if coord not in subgraph.external:
                continue
            if t.kind == INTERFACE:
                issues.append(
                    CompositionIssue(
                        "EXTERNAL_ON_INTERFACE",
                        f'[{name}] Interface type field "{coord}" is marked @external but '
                        "@external is not allowed on interface fields (it is nonsensical).",
                    )
                )
            elif coord not in subgraph.used:
                issues.append(
                    CompositionIssue(
                        "EXTERNAL_UNUSED",
                        f'[{name}] Field "{coord}" is marked @external but is not used in any '
                        "federation directive (@key, @provides, @requires) or to satisfy an "
                        "interface; the field declaration has no use and should be removed (or "
                        "the field should not be @external).",
                    )
                )


def _unquote(printed: str | None) -> str | None:
    # Directive arguments are stored printed (JSON-quoted); field sets need the raw string.
    if printed is None:
        return None
    value = json.loads(printed) if printed.startswith('"') else printed
    return value if isinstance(value, str) else printed


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _field_set_coordinates(
    subgraph: Subgraph,
    parent: str,
    fields: str,
    context: str,
    code: str,
    issues: list[CompositionIssue],
    *,
    include_implementations: bool = True,
    check: Callable[[Field, bool], None] | None = None,
) -> list[str]:
    coords: list[str] = []
    problems: list[tuple[str | None, str]] = []
    try:
        selection_set = parse_field_set(fields)
    except GraphQLSyntaxError as exc:
        issues.append(CompositionIssue(code, f"[{subgraph.name}] {context}: {exc.message}"))
        return coords

    def visit(f: Field, external_parent: bool) -> None:
        coords.append(f.coordinate)
        if check is not None:
            check(f, external_parent)
        parent_type = subgraph.types.get(f.parent)
        if include_implementations and parent_type is not None and parent_type.kind == INTERFACE:
            for impl in subgraph.implementations(f.parent):
                if f.name in subgraph.types[impl].fields:
                    coords.append(f"{impl}.{f.name}")

    directive = code.split("_", 1)[0].lower()
    _walk_field_set(subgraph, parent, selection_set, visit, problems, directive)
    for problem_code, problem in problems:
        hint = ""
        if problem.startswith("Cannot query field"):
            hint = (
                " (the field should either be added to this subgraph or, if it should not be "
                "resolved by this subgraph, you need to add it to this subgraph with @external)."
            )
        issues.append(
            CompositionIssue(problem_code or code, f"[{subgraph.name}] {context}: {problem}{hint}")
        )
    return coords


def _analyse_requires(
    subgraph: Subgraph, type_name: str, f: Field, issues: list[CompositionIssue]
) -> None:
    directive = f.applied("requires")
    if directive is None:
        return
    fields = _unquote(directive.arg("fields")) or ""

    def must_be_external(target: Field, external_parent: bool) -> None:
        t = subgraph.types.get(target.type.base)
        is_leaf = t is None or t.kind not in (OBJECT, INTERFACE, UNION)
        if is_leaf and target.coordinate not in subgraph.external and not external_parent:
            issues.append(
                CompositionIssue(
                    "REQUIRES_FIELDS_MISSING_EXTERNAL",
                    f'[{subgraph.name}] On field "{f.coordinate}", for @requires(fields: '
                    f'{_quote(fields)}): field "{target.coordinate}" should not be part of a '
                    "@requires since it is already provided by this subgraph (it is not marked "
                    "@external)",
                )
            )

    coords = _field_set_coordinates(
        subgraph,
        type_name,
        fields,
        f'On field "{f.coordinate}", for @requires(fields: {_quote(fields)})',
        "REQUIRES_INVALID_FIELDS",
        issues,
        check=must_be_external,
    )
    subgraph.used.update(coords)


def _analyse_provides(subgraph: Subgraph, f: Field, issues: list[CompositionIssue]) -> None:
    directive = f.applied("provides")
    if directive is None:
        return
    fields = _unquote(directive.arg("fields")) or ""
    target = subgraph.types.get(f.type.base)
    context = f'On field "{f.coordinate}", for @provides(fields: {_quote(fields)})'
    if target is None or target.kind not in (OBJECT, INTERFACE, UNION):
        issues.append(
            CompositionIssue(
                "PROVIDES_ON_NON_OBJECT_FIELD",
                f'[{subgraph.name}] Invalid @provides directive on field "{f.coordinate}": '
                f'field has type "{f.type}" which is not a Composite Type',
            )
        )
        return

    def must_be_external(provided: Field, external_parent: bool) -> None:
        t = subgraph.types.get(provided.type.base)
        is_leaf = t is None or t.kind not in (OBJECT, INTERFACE, UNION)
        if is_leaf and provided.coordinate not in subgraph.external and not external_parent:
            issues.append(
                CompositionIssue(
                    "PROVIDES_FIELDS_MISSING_EXTERNAL",
                    f'[{subgraph.name}] {context}: field "{provided.coordinate}" should not be '
                    "part of a @provides since it is already provided by this subgraph (it is "
                    "not marked @external)",
                )
            )

    coords = _field_set_coordinates(
        subgraph,
        target.name,
        fields,
        context,
        "PROVIDES_INVALID_FIELDS",
        issues,
        check=must_be_external,
    )
    subgraph.used.update(coords)
    for coord in coords:
        subgraph.provided.add(coord)
        if coord in subgraph.external:
            subgraph.shareable.add(coord)
