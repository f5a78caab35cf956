"""Merging read subgraphs into a supergraph model, following Federation v2's merge rules.

Output types take the union of their subgraphs' fields; a field resolved by more than one
subgraph must be `@shareable` everywhere (key fields and provided externals count as
shareable); input types and field arguments take the intersection; enums are unioned when only
used as output, intersected when only used as input, and must agree when used as both. Where a
field's type differs between subgraphs, the supertype wins (outputs) or the subtype (inputs).
The `@join__*` annotations record which subgraph resolves what, exactly as Apollo's composition
writes them, so that gateways can plan queries from the supergraph alone.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from graphql import DirectiveDefinitionNode

from gateway.composition._syntax import Applied, TypeRef, string_value
from gateway.composition.errors import CompositionIssue
from gateway.composition.subgraph import (
    ENUM,
    INPUT_OBJECT,
    INTERFACE,
    KIND_LABELS,
    OBJECT,
    SCALAR,
    UNION,
    Argument,
    Field,
    NamedType,
    Subgraph,
)

ACCESS_CONTROL = ("authenticated", "requiresScopes", "policy")
# Directives of the Apollo spec features carried into the supergraph, in the federation spec's
# definition order.
FEATURE_DIRECTIVES = (
    "tag",
    "inaccessible",
    "authenticated",
    "requiresScopes",
    "policy",
    "cost",
    "listSize",
)
# Directives a subgraph applies that are carried into the supergraph (besides composed ones).
MERGED_DIRECTIVES = frozenset(
    {
        "inaccessible",
        "tag",
        "authenticated",
        "requiresScopes",
        "policy",
        "cost",
        "listSize",
        "deprecated",
        "specifiedBy",
        "oneOf",
    }
)
_OVERRIDE_LABEL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_\-:./]*$")
_PERCENT_LABEL_RE = re.compile(r"^percent\((\d{1,2}(\.\d{1,8})?|100)\)$")


@dataclass(slots=True)
class MergedArgument:
    name: str
    type: TypeRef
    default: str | None
    description: str | None
    directives: list[Applied]


@dataclass(slots=True)
class MergedField:
    name: str
    type: TypeRef
    description: str | None = None
    args: dict[str, MergedArgument] = field(default_factory=dict)
    directives: list[Applied] = field(default_factory=list)
    default: str | None = None  # input fields


@dataclass(slots=True)
class MergedEnumValue:
    name: str
    description: str | None
    directives: list[Applied]


@dataclass(slots=True)
class MergedType:
    name: str
    kind: str
    description: str | None = None
    directives: list[Applied] = field(default_factory=list)
    fields: dict[str, MergedField] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, MergedEnumValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Graph:
    enum_value: str
    name: str
    url: str


@dataclass(slots=True)
class ComposedFeature:
    url: str
    directives: list[str]
    definitions: dict[str, DirectiveDefinitionNode]


@dataclass(slots=True)
class SupergraphModel:
    graphs: list[Graph]
    join_version: str
    roots: dict[str, str]
    types: dict[str, MergedType]
    used_spec_directives: set[str]
    # Apollo spec features to @link, in Apollo's order: by the first subgraph (by name) that
    # applies one of their directives, then in the federation spec's order within it.
    feature_order: list[str]
    composed: list[ComposedFeature]


def join_version_for(federation_version: tuple[int, int]) -> str:
    """The join spec version Apollo's composition writes for a given federation version."""
    if federation_version >= (2, 8):
        return "0.5"
    if federation_version >= (2, 7):
        return "0.4"
    return "0.3"


def graph_enum_values(names: Sequence[str]) -> list[str]:
    """`join__Graph` value names: upper-cased and sanitised to GraphQL names; names that collide
    are all numbered (`MY_SUB_1`, `MY_SUB_2`), as Apollo's composition does."""
    bases: list[str] = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
        if not base or base[0].isdigit():
            base = "_" + base
        bases.append(base)
    counts = Counter(bases)
    seen: Counter[str] = Counter()
    out: list[str] = []
    for base in bases:
        if counts[base] > 1:
            seen[base] += 1
            out.append(f"{base}_{seen[base]}")
        else:
            out.append(base)
    return out


def print_subgraph_names(names: Sequence[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    if len(quoted) == 1:
        return f"subgraph {quoted[0]}"
    return "subgraphs " + ", ".join(quoted[:-1]) + " and " + quoted[-1]


@dataclass(slots=True)
class _FieldContext:
    """Per-subgraph override state of one field (Apollo's FieldMergeContext)."""

    used_overridden: set[int] = field(default_factory=set)
    unused_overridden: set[int] = field(default_factory=set)
    unknown_target: set[int] = field(default_factory=set)
    labels: dict[int, str] = field(default_factory=dict)


class Merger:
    def __init__(self, subgraphs: Sequence[Subgraph]) -> None:
        self.subgraphs = sorted(subgraphs, key=lambda s: s.name)
        self.names = [s.name for s in self.subgraphs]
        self.graph_values = graph_enum_values(self.names)
        self.issues: list[CompositionIssue] = []
        self.types: dict[str, MergedType] = {}
        self.kinds: dict[str, str] = {}
        self.used_spec_directives: set[str] = set()
        self.enum_usage: dict[str, set[str]] = {}
        self.enum_examples: dict[str, dict[str, str]] = {}
        self.composed_names: set[str] = set()
        self.repeatable: set[str] = {"tag"}
        self.composed: list[ComposedFeature] = []
        version = max((s.federation_version for s in self.subgraphs), default=(2, 0))
        self.join_version = join_version_for(version)

    # --- entry point -----------------------------------------------------------------------

    def merge(self) -> SupergraphModel:
        self._collect_composed()
        self._add_types_shallow()
        by_kind: dict[str, list[str]] = {}
        for name, kind in self.kinds.items():
            by_kind.setdefault(kind, []).append(name)
        # Implements and unions first: subtyping checks during field merging rely on them.
        for name in by_kind.get(OBJECT, []) + by_kind.get(INTERFACE, []):
            self._merge_implements(name)
        for name in by_kind.get(UNION, []):
            self._merge_union(name)
        for name in by_kind.get(SCALAR, []):
            self._merge_scalar(name)
        for name in by_kind.get(INPUT_OBJECT, []):
            self._merge_input(name)
        for name in by_kind.get(INTERFACE, []):
            self._merge_fields(name, validate_sharing=False)
        for name in by_kind.get(OBJECT, []):
            self._merge_fields(name, validate_sharing=True)
        # Enums last: their merge rule depends on where they are used.
        for name in by_kind.get(ENUM, []):
            self._merge_enum(name)
        self._add_interface_object_fields()
        if "Query" not in self.types or not self.types["Query"].fields:
            self.types.pop("Query", None)
            self.issues.append(
                CompositionIssue(
                    "NO_QUERIES",
                    "No queries found in any subgraph: a supergraph must have a query root type.",
                )
            )
        if not self.issues:
            self._validate_references()
        return self._model()

    def _model(self) -> SupergraphModel:
        roots = {
            kind: default
            for kind, default in (
                ("query", "Query"),
                ("mutation", "Mutation"),
                ("subscription", "Subscription"),
            )
            if default in self.types and any(kind in s.roots for s in self.subgraphs)
        }
        return SupergraphModel(
            graphs=[
                Graph(v, s.name, s.url)
                for v, s in zip(self.graph_values, self.subgraphs, strict=True)
            ],
            join_version=self.join_version,
            roots=roots,
            types=self.types,
            used_spec_directives=self.used_spec_directives,
            feature_order=self._feature_order(),
            composed=self.composed,
        )

    def _feature_order(self) -> list[str]:
        order: list[str] = []
        for s in self.subgraphs:
            for name in FEATURE_DIRECTIVES:
                feature = "cost" if name == "listSize" else name
                if name in s.applied_names and feature not in order:
                    order.append(feature)
        return [f for f in order if f in self.used_spec_directives or f == "cost"]

    # --- helpers ---------------------------------------------------------------------------

    def _sources(self, name: str) -> list[tuple[int, NamedType]]:
        return [(i, s.types[name]) for i, s in enumerate(self.subgraphs) if name in s.types]

    def _graph(self, idx: int) -> str:
        return self.graph_values[idx]

    def _error(self, code: str, message: str) -> None:
        self.issues.append(CompositionIssue(code, message))

    def _collect_composed(self) -> None:
        by_url: dict[str, ComposedFeature] = {}
        for s in self.subgraphs:
            for directive in s.composed:
                assert directive.url is not None
                feature = by_url.get(directive.url)
                if feature is None:
                    feature = ComposedFeature(directive.url, [], {})
                    by_url[directive.url] = feature
                if directive.name not in feature.directives:
                    feature.directives.append(directive.name)
                if directive.definition is not None:
                    feature.definitions.setdefault(directive.name, directive.definition)
                    if directive.definition.repeatable:
                        self.repeatable.add(directive.name)
                self.composed_names.add(directive.name)
        self.composed = list(by_url.values())

    def _add_types_shallow(self) -> None:
        kinds_per_type: dict[str, list[tuple[str, str]]] = {}
        for s in self.subgraphs:
            for t in s.types.values():
                kind = INTERFACE if t.name in s.interface_objects else t.kind
                kinds_per_type.setdefault(t.name, []).append((kind, s.name))
        for name, entries in kinds_per_type.items():
            kinds = list(dict.fromkeys(k for k, _ in entries))
            if len(kinds) > 1:
                groups = [
                    f"{KIND_LABELS[k]} in "
                    + print_subgraph_names([sub for kk, sub in entries if kk == k])
                    for k in kinds
                ]
                self._error(
                    "TYPE_KIND_MISMATCH",
                    f'Type "{name}" has mismatched kind: it is defined as '
                    + groups[0]
                    + " but "
                    + " and ".join(groups[1:]),
                )
                continue
            self.kinds[name] = kinds[0]
            self.types[name] = MergedType(name, kinds[0])
            if kinds[0] == INTERFACE:
                itf_object_subgraphs = [
                    s.name for s in self.subgraphs if name in s.interface_objects
                ]
                if itf_object_subgraphs and not any(
                    name in s.types and s.types[name].kind == INTERFACE for s in self.subgraphs
                ):
                    self._error(
                        "INTERFACE_OBJECT_USAGE_ERROR",
                        f'Type "{name}" is declared with @interfaceObject in all the subgraphs '
                        f"in which it is defined (it is defined in "
                        f"{print_subgraph_names(itf_object_subgraphs)} but should be defined as "
                        "an interface in at least one subgraph)",
                    )
        for name in self.types:
            if name in ("Query", "Mutation", "Subscription"):
                continue
            sources = self._sources(name)
            if sources and all(not t.has_definition for _, t in sources):
                for idx, _ in sources:
                    self._error(
                        "EXTENSION_WITH_NO_BASE",
                        f'[{self.names[idx]}] Type "{name}" is an extension type, but there is '
                        f'no type definition for "{name}" in any subgraph.',
                    )

    def _description(self, descriptions: Sequence[str | None]) -> str | None:
        present = [d for d in descriptions if d]
        if not present:
            return None
        counts = Counter(present)
        best = max(counts.values())
        return next(d for d in present if counts[d] == best)

    # --- applied directives ----------------------------------------------------------------

    def _is_merged(self, name: str) -> bool:
        return name in MERGED_DIRECTIVES or name in self.composed_names

    def _merge_applied(
        self,
        per_source: Sequence[Sequence[Applied]],
        extra_access: Sequence[Sequence[Applied]] = (),
    ) -> tuple[list[Applied], list[Applied], list[Applied]]:
        """Merge one element's applied directives: (inaccessible, access control, others).

        `extra_access` are further sources for the access-control directives only: the
        requirements an interface inherits from its implementations, or an implementation from
        an @interfaceObject.
        """
        extra = [[d for d in ds if d.name in ACCESS_CONTROL] for ds in extra_access]
        per_source = [*per_source, *(ds for ds in extra if ds)]
        names: list[str] = []
        for directives in per_source:
            for d in directives:
                if self._is_merged(d.name) and d.name not in names:
                    names.append(d.name)
        inaccessible: list[Applied] = []
        access: list[Applied] = []
        others: list[Applied] = []
        for name in names:
            applications = [[d for d in ds if d.name == name] for ds in per_source]
            applications = [a for a in applications if a]
            if name in MERGED_DIRECTIVES and name not in ("deprecated", "specifiedBy", "oneOf"):
                self.used_spec_directives.add(name)
            merged = self._merge_applications(name, applications)
            if name == "inaccessible":
                inaccessible.extend(merged)
            elif name in ACCESS_CONTROL:
                access.extend(merged)
            else:
                others.extend(merged)
        access.sort(key=lambda d: ACCESS_CONTROL.index(d.name))
        return inaccessible, access, others

    def _merge_applications(self, name: str, per_source: list[list[Applied]]) -> list[Applied]:
        if name in self.repeatable:
            out: list[Applied] = []
            for applications in per_source:
                for a in applications:
                    if a not in out:
                        out.append(a)
            return out
        distinct: list[Applied] = []
        counts: list[int] = []
        for applications in per_source:
            a = applications[0]
            if a in distinct:
                counts[distinct.index(a)] += 1
            else:
                distinct.append(a)
                counts.append(1)
        if len(distinct) == 1:
            return distinct
        if name in ("requiresScopes", "policy"):
            arg = "scopes" if name == "requiresScopes" else "policies"
            values = [json.loads(a.arg(arg) or "[]") for a in distinct]
            return [Applied(name, ((arg, _print_dnf(dnf_conjunction(values))),))]
        if name == "cost":
            weights = [int(a.arg("weight") or "0") for a in distinct]
            return [Applied(name, (("weight", str(max(weights))),))]
        if name == "listSize":
            return [_merge_list_size(distinct)]
        return [distinct[counts.index(max(counts))]]

    # --- object and interface types --------------------------------------------------------

    def _merge_implements(self, name: str) -> None:
        dest = self.types[name]
        for idx, source in self._sources(name):
            for itf in source.interfaces:
                if itf not in dest.interfaces:
                    dest.interfaces.append(itf)
                dest.directives.append(
                    Applied(
                        "join__implements",
                        (("graph", self._graph(idx)), ("interface", string_value(itf))),
                    )
                )

    def _join_types(self, name: str) -> list[Applied]:
        out: list[Applied] = []
        for idx, _source in self._sources(name):
            s = self.subgraphs[idx]
            itf_object = name in s.interface_objects
            keys = s.keys.get(name, [])
            if not keys:
                args: list[tuple[str, str]] = [("graph", self._graph(idx))]
                if itf_object:
                    args.append(("isInterfaceObject", "true"))
                out.append(Applied("join__type", tuple(args)))
                continue
            for key in keys:
                args = [("graph", self._graph(idx)), ("key", string_value(key.fields))]
                if key.extension:
                    args.append(("extension", "true"))
                resolvable = dict(key.args).get("resolvable")
                if resolvable is not None:
                    args.append(("resolvable", resolvable))
                if itf_object:
                    args.append(("isInterfaceObject", "true"))
                out.append(Applied("join__type", tuple(args)))
        return out

    def _type_directives(self, name: str) -> tuple[list[Applied], list[Applied]]:
        """(join__type + @inaccessible, remaining merged directives) of a type."""
        sources = self._sources(name)
        extra: list[list[Applied]] = []
        if self.kinds.get(name) == INTERFACE:
            # Access control on implementations applies to the interface too (Apollo's rule).
            for s in self.subgraphs:
                for impl in s.implementations(name):
                    extra.append([d for d, _ in s.types[impl].directives])
        inaccessible, access, others = self._merge_applied(
            [[d for d, _ in t.directives] for _, t in sources], extra
        )
        return self._join_types(name) + inaccessible, access + others

    def _inherited_access(self, type_name: str, fname: str) -> list[list[Applied]]:
        """Access control a field inherits: from implementations' fields (for an interface
        field) or from @interfaceObject fields standing in for its interfaces."""
        out: list[list[Applied]] = []
        if self.kinds.get(type_name) == INTERFACE:
            for s in self.subgraphs:
                for impl in s.implementations(type_name):
                    f = s.types[impl].fields.get(fname)
                    if f is not None:
                        out.append(f.directives)
            return out
        for itf in self.types[type_name].interfaces:
            for s in self.subgraphs:
                if itf in s.interface_objects:
                    f = s.types[itf].fields.get(fname)
                    if f is not None:
                        out.append(f.directives)
        return out

    def _interface_object_fields(self, type_name: str, field_name: str, idx: int) -> list[Field]:
        """Fields standing in for `type_name.field_name` in a subgraph through @interfaceObject."""
        s = self.subgraphs[idx]
        if type_name in s.types:
            return []
        out: list[Field] = []
        for itf in self.types[type_name].interfaces:
            if itf in s.interface_objects:
                f = s.types[itf].fields.get(field_name)
                if f is not None:
                    out.append(f)
        return out

    def _merge_fields(self, name: str, *, validate_sharing: bool) -> None:
        dest = self.types[name]
        sources = self._sources(name)
        head, tail = self._type_directives(name)
        dest.directives.extend(head)
        dest.description = self._description([t.description for _, t in sources])
        for itf in sources:
            if itf[1].kind == INTERFACE:
                self._validate_interface_keys(name, itf[0], itf[1])
        if dest.kind == INTERFACE:
            self._validate_interface_object(name)

        present_idx = [idx for idx, _ in sources]
        # Subgraphs that abstract this type through an @interfaceObject of one of its interfaces.
        extra_idx = [
            i
            for i, s in enumerate(self.subgraphs)
            if i not in present_idx and any(itf in s.interface_objects for itf in dest.interfaces)
        ]
        field_names: list[str] = []
        for _, t in sources:
            for fname in t.fields:
                if fname not in field_names:
                    field_names.append(fname)
        for fname in field_names:
            per: dict[int, Field | None] = {
                i: (self.subgraphs[i].types[name].fields.get(fname) if i in present_idx else None)
                for i in sorted(present_idx + extra_idx)
            }
            context = self._validate_override(name, fname, per)
            merged = self._merge_field(name, fname, per, context)
            if merged is None:
                continue
            dest.fields[fname] = merged
            if validate_sharing:
                self._validate_sharing(name, fname, per, context)
        dest.directives.extend(tail)

    def _merge_field(
        self,
        type_name: str,
        fname: str,
        per: dict[int, Field | None],
        context: _FieldContext,
    ) -> MergedField | None:
        coordinate = f"{type_name}.{fname}"
        every_external = True
        for idx, f in per.items():
            s = self.subgraphs[idx]
            if f is None:
                if not all(
                    s.is_external(x) for x in self._interface_object_fields(type_name, fname, idx)
                ):
                    every_external = False
            elif not s.is_external(f):
                every_external = False
        if every_external:
            defining = [self.names[i] for i, f in per.items() if f is not None]
            self._error(
                "EXTERNAL_MISSING_ON_BASE",
                f'Field "{coordinate}" is marked @external on all the subgraphs in which it is '
                f"listed ({print_subgraph_names(defining)}).",
            )
            return None

        non_external = {
            i: f for i, f in per.items() if f is not None and not self.subgraphs[i].is_external(f)
        }
        for i, f in per.items():
            if f is not None and self.subgraphs[i].is_external(f):
                for d in f.directives:
                    if self._is_merged(d.name):
                        self._error(
                            "MERGED_DIRECTIVE_APPLICATION_ON_EXTERNAL",
                            f"[{self.names[i]}] Cannot apply merged directive {d} to external "
                            f'field "{coordinate}"',
                        )
        kept = list(non_external.values())
        description = self._description([f.description for f in kept])
        inaccessible, access, others = self._merge_applied(
            [f.directives for f in kept], self._inherited_access(type_name, fname)
        )
        args = self._merge_arguments(coordinate, non_external)
        type_sources = non_external or {i: f for i, f in per.items() if f is not None}
        merged_type, all_equal = self._merge_type_ref(
            coordinate, "field", {i: f.type for i, f in type_sources.items()}, input_position=False
        )
        if any(f is not None and self.subgraphs[i].is_external(f) for i, f in per.items()):
            self._validate_external(coordinate, per, merged_type, all_equal, args)
        joins = self._join_fields(type_name, per, all_equal, context)
        self._record_enum_usage(merged_type.base, "Output", coordinate)
        return MergedField(
            name=fname,
            type=merged_type,
            description=description,
            args=args,
            directives=inaccessible + joins + access + others,
        )

    def _join_fields(
        self,
        type_name: str,
        per: dict[int, Field | None],
        all_equal: bool,
        context: _FieldContext,
    ) -> list[Applied]:
        needs = not all_equal or bool(context.used_overridden) or bool(context.labels)
        if not needs:
            for idx, f in per.items():
                s = self.subgraphs[idx]
                if f is not None and idx not in context.unused_overridden:
                    if (
                        s.is_external(f)
                        or f.applied("provides") is not None
                        or f.applied("requires") is not None
                    ):
                        needs = True
                        break
                elif type_name in s.types:
                    needs = True
                    break
        if not needs:
            return []
        out: list[Applied] = []
        for idx, f in per.items():
            label = context.labels.get(idx)
            if f is None or (idx in context.unused_overridden and label is None):
                continue
            s = self.subgraphs[idx]
            args: list[tuple[str, str]] = [("graph", self._graph(idx))]
            requires = f.applied("requires")
            if requires is not None and requires.arg("fields") is not None:
                args.append(("requires", requires.arg("fields") or ""))
            provides = f.applied("provides")
            if provides is not None and provides.arg("fields") is not None:
                args.append(("provides", provides.arg("fields") or ""))
            override = f.applied("override")
            if override is not None and override.arg("from") is not None:
                args.append(("override", override.arg("from") or ""))
            if not all_equal:
                args.append(("type", string_value(str(f.type))))
            if s.is_external(f):
                args.append(("external", "true"))
            if idx in context.used_overridden:
                args.append(("usedOverridden", "true"))
            if label is not None:
                args.append(("overrideLabel", string_value(label)))
            out.append(Applied("join__field", tuple(args)))
        return out

    def _validate_sharing(
        self, type_name: str, fname: str, per: dict[int, Field | None], context: _FieldContext
    ) -> None:
        coordinate = f"{type_name}.{fname}"
        shareable: list[str] = []
        non_shareable: list[tuple[str, int]] = []
        resolving: list[str] = []
        for idx, f in per.items():
            s = self.subgraphs[idx]
            candidates: list[tuple[str, Field]] = []
            if f is None:
                for itf_field in self._interface_object_fields(type_name, fname, idx):
                    candidates.append(
                        (
                            f'"{s.name}" (through @interfaceObject field "{itf_field.coordinate}")',
                            itf_field,
                        )
                    )
            elif idx in context.used_overridden or idx in context.unused_overridden:
                continue
            else:
                candidates.append((f'"{s.name}"', f))
            for label, candidate in candidates:
                if s.is_fully_external(candidate):
                    continue
                resolving.append(label)
                if s.is_shareable(candidate):
                    shareable.append(label)
                else:
                    non_shareable.append((label, idx))
        if non_shareable and (shareable or len(non_shareable) > 1):

            def listing(labels: Sequence[str]) -> str:
                if len(labels) == 1:
                    return f"subgraph {labels[0]}"
                return "subgraphs " + ", ".join(labels[:-1]) + " and " + labels[-1]

            which = listing([label for label, _ in non_shareable]) if shareable else "all of them"
            extra = ""
            typo = next((lab for lab, i in non_shareable if i in context.unknown_target), None)
            if typo is not None:
                extra = (
                    f' (please note that "{coordinate}" has an @override directive in {typo} '
                    "that targets an unknown subgraph so this could be due to misspelling the "
                    "@override(from:) argument)"
                )
            self._error(
                "INVALID_FIELD_SHARING",
                f'Non-shareable field "{coordinate}" is resolved from multiple subgraphs: it is '
                f"resolved from {listing(resolving)} and defined as non-shareable in {which}"
                f"{extra}",
            )

    def _validate_override(
        self, type_name: str, fname: str, per: dict[int, Field | None]
    ) -> _FieldContext:
        context = _FieldContext()
        coordinate = f"{type_name}.{fname}"
        overriding = {
            idx: f.applied("override")
            for idx, f in per.items()
            if f is not None and f.applied("override") is not None
        }
        for idx, directive in overriding.items():
            assert directive is not None
            name = self.names[idx]
            s = self.subgraphs[idx]
            parent = s.types[type_name]
            if parent.kind == INTERFACE:
                self._error(
                    "OVERRIDE_ON_INTERFACE",
                    f'@override cannot be used on field "{coordinate}" on subgraph "{name}": '
                    "@override is not supported on interface type fields.",
                )
                continue
            if type_name in s.interface_objects:
                self._error(
                    "OVERRIDE_COLLISION_WITH_ANOTHER_DIRECTIVE",
                    "@override is not yet supported on fields of @interfaceObject types: cannot "
                    f'be used on field "{coordinate}" on subgraph "{name}".',
                )
                continue
            source_name = json.loads(directive.arg("from") or '""')
            if source_name not in self.names:
                context.unknown_target.add(idx)
                continue
            if source_name == name:
                self._error(
                    "OVERRIDE_FROM_SELF_ERROR",
                    f'Source and destination subgraphs "{source_name}" are the same for '
                    f'overridden field "{coordinate}"',
                )
                continue
            from_idx = self.names.index(source_name)
            if from_idx in overriding:
                self._error(
                    "OVERRIDE_SOURCE_HAS_OVERRIDE",
                    f'Field "{coordinate}" on subgraph "{name}" is also marked with directive '
                    f'@override in subgraph "{source_name}". Only one @override directive is '
                    "allowed per field.",
                )
                continue
            from_field = per.get(from_idx)
            if from_field is None:
                continue  # nothing left to override: only a hint in Apollo's composition
            from_subgraph = self.subgraphs[from_idx]
            conflict: tuple[str, str] | None = None
            for directive_name in ("requires", "provides"):
                if from_field.applied(directive_name) is not None:
                    conflict = (directive_name, source_name)
            own = per[idx]
            if own is not None and s.is_external(own):
                conflict = ("external", name)
            if conflict is not None:
                self._error(
                    "OVERRIDE_COLLISION_WITH_ANOTHER_DIRECTIVE",
                    f'@override cannot be used on field "{coordinate}" on subgraph "{name}" '
                    f'since "{coordinate}" on "{conflict[1]}" is marked with directive '
                    f'"@{conflict[0]}"',
                )
                continue
            label_value = directive.arg("label")
            label = json.loads(label_value) if label_value is not None else None
            if from_subgraph.is_external(from_field):
                pass  # the "from" side is explicitly external: the override is a no-op
            elif coordinate in from_subgraph.used:
                context.used_overridden.add(from_idx)
            else:
                context.unused_overridden.add(from_idx)
            if label is not None:
                if _OVERRIDE_LABEL_RE.match(label) or _valid_percent(label):
                    context.labels[idx] = label
                    context.labels[from_idx] = label
                else:
                    self._error(
                        "OVERRIDE_LABEL_INVALID",
                        f'Invalid @override label "{label}" on field "{coordinate}" on subgraph '
                        f'"{name}": labels must start with a letter and after that may contain '
                        "alphanumerics, underscores, minuses, colons, periods, or slashes. "
                        'Alternatively, labels may be of the form "percent(x)" where x is a '
                        "float between 0-100 inclusive.",
                    )
        return context

    def _validate_external(
        self,
        coordinate: str,
        per: dict[int, Field | None],
        merged_type: TypeRef,
        all_equal: bool,
        args: dict[str, MergedArgument],
    ) -> None:
        bad_types: list[str] = []
        for idx, f in per.items():
            if f is None or not self.subgraphs[idx].is_external(f):
                continue
            if not (
                f.type == merged_type
                or (not all_equal and self._is_strict_subtype(merged_type, f.type))
            ):
                bad_types.append(self.names[idx])
            for arg_name in args:
                if arg_name not in f.args:
                    self._error(
                        "EXTERNAL_ARGUMENT_MISSING",
                        f'Field "{coordinate}" is missing argument "{coordinate}({arg_name}:)" in '
                        f'some subgraphs where it is marked @external: subgraph "{self.names[idx]}"',
                    )
        if bad_types:
            self._error(
                "EXTERNAL_TYPE_MISMATCH",
                f'Type of field "{coordinate}" is incompatible across subgraphs (where marked '
                "@external): it has "
                + self._distribution(
                    f'type "{merged_type}"',
                    {i: f'type "{f.type}"' for i, f in per.items() if f is not None},
                ),
            )

    def _distribution(self, supergraph_label: str, labels: dict[int, str]) -> str:
        """`X in subgraph "a" but Y in subgraphs "b" and "c"`: the supergraph's choice first."""
        groups: dict[str, list[str]] = {supergraph_label: []}
        for idx, label in labels.items():
            groups.setdefault(label, []).append(self.names[idx])
        parts = [
            f"{label} in {print_subgraph_names(subs)}" for label, subs in groups.items() if subs
        ]
        return parts[0] + "".join(
            (" but " if i == 0 else " and ") + p for i, p in enumerate(parts[1:])
        )

    def _validate_interface_keys(self, name: str, idx: int, source: NamedType) -> None:
        keys = self.subgraphs[idx].keys.get(name, [])
        resolvable = next((k for k in keys if k.resolvable), None)
        if resolvable is None:
            return
        everywhere = self._implementations(name)
        here = set(self.subgraphs[idx].implementations(name))
        missing = [t for t in everywhere if t not in here]
        if missing:
            sub = self.names[idx]
            listed = ", ".join(f'"{t}"' for t in missing)
            self._error(
                "INTERFACE_KEY_MISSING_IMPLEMENTATION_TYPE",
                f'[{sub}] Interface type "{name}" has a resolvable key (@key(fields: '
                f'{string_value(resolvable.fields)})) in subgraph "{sub}" but that subgraph is '
                f'missing some of the supergraph implementation types of "{name}". Subgraph '
                f'"{sub}" should define type{"s" if len(missing) > 1 else ""} {listed} (and have '
                f'{"them" if len(missing) > 1 else "it"} implement "{name}").',
            )

    def _validate_interface_object(self, name: str) -> None:
        impls = self._implementations(name)
        for idx, s in enumerate(self.subgraphs):
            if name not in s.interface_objects:
                continue
            defined = [t for t in impls if t in s.types]
            if defined:
                listed = ", ".join(f'"{t}"' for t in defined)
                self._error(
                    "INTERFACE_OBJECT_USAGE_ERROR",
                    f'[{self.names[idx]}] Interface type "{name}" is defined as an '
                    f'@interfaceObject in subgraph "{self.names[idx]}" so that subgraph should '
                    f'not define any of the implementation types of "{name}", but it defines '
                    f"type{'s' if len(defined) > 1 else ''} {listed}",
                )

    def _implementations(self, interface: str) -> list[str]:
        return [
            t.name for t in self.types.values() if t.kind == OBJECT and interface in t.interfaces
        ]

    def _add_interface_object_fields(self) -> None:
        """Fields an @interfaceObject adds to an interface reach every implementation too."""
        for t in list(self.types.values()):
            if t.kind != OBJECT:
                continue
            for itf_name in t.interfaces:
                itf = self.types.get(itf_name)
                if itf is None:
                    continue
                for fname, itf_field in itf.fields.items():
                    if fname in t.fields:
                        continue
                    provided = any(
                        itf_name in s.interface_objects
                        and fname in s.types[itf_name].fields
                        and not s.is_external(s.types[itf_name].fields[fname])
                        for s in self.subgraphs
                    )
                    if not provided:
                        continue
                    # As Apollo: the access control the @interfaceObject fields carry, then the
                    # interface field's other directives, then a graph-less @join__field.
                    _, access, _ = self._merge_applied([], self._inherited_access(t.name, fname))
                    copied = [
                        d
                        for d in itf_field.directives
                        if not d.name.startswith("join__") and d.name not in ACCESS_CONTROL
                    ]
                    t.fields[fname] = MergedField(
                        name=fname,
                        type=itf_field.type,
                        description=itf_field.description,
                        args={
                            k: MergedArgument(
                                a.name, a.type, a.default, a.description, list(a.directives)
                            )
                            for k, a in itf_field.args.items()
                        },
                        directives=[*access, *copied, Applied("join__field")],
                    )

    # --- arguments, types, defaults --------------------------------------------------------

    def _merge_arguments(
        self, coordinate: str, fields: dict[int, Field]
    ) -> dict[str, MergedArgument]:
        names: list[str] = []
        for f in fields.values():
            for a in f.args:
                if a not in names:
                    names.append(a)
        out: dict[str, MergedArgument] = {}
        for arg_name in names:
            per: dict[int, Argument | None] = {i: f.args.get(arg_name) for i, f in fields.items()}
            arg_coordinate = f"{coordinate}({arg_name}:)"
            if any(a is None for a in per.values()):
                required = [
                    self.names[i]
                    for i, a in per.items()
                    if a is not None and a.type.is_non_null and a.default is None
                ]
                if required:
                    missing = [self.names[i] for i, a in per.items() if a is None]
                    self._error(
                        "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
                        f'Argument "{arg_coordinate}" is required in some subgraphs but does not '
                        f"appear in all subgraphs: it is required in "
                        f"{print_subgraph_names(required)} but does not appear in "
                        f"{print_subgraph_names(missing)}",
                    )
                continue
            args = {i: a for i, a in per.items() if a is not None}
            merged_type, _ = self._merge_type_ref(
                arg_coordinate, "argument", {i: a.type for i, a in args.items()}, True
            )
            default = self._merge_default(
                arg_coordinate, "Argument", {i: a.default for i, a in args.items()}
            )
            inaccessible, access, others = self._merge_applied(
                [a.directives for a in args.values()]
            )
            self._record_enum_usage(merged_type.base, "Input", arg_coordinate)
            out[arg_name] = MergedArgument(
                arg_name,
                merged_type,
                default,
                self._description([a.description for a in args.values()]),
                inaccessible + access + others,
            )
        return out

    def _merge_default(
        self, coordinate: str, kind: str, defaults: dict[int, str | None]
    ) -> str | None:
        values = list(defaults.values())
        present = [v for v in values if v is not None]
        if not present:
            return None
        if len(set(present)) > 1:
            groups: dict[str, list[str]] = {}
            for i, v in defaults.items():
                label = f"default value {v}" if v is not None else "no default value"
                groups.setdefault(label, []).append(self.names[i])
            parts = [f"{label} in {print_subgraph_names(subs)}" for label, subs in groups.items()]
            self._error(
                "FIELD_ARGUMENT_DEFAULT_MISMATCH"
                if kind == "Argument"
                else "INPUT_FIELD_DEFAULT_MISMATCH",
                f'{kind} "{coordinate}" has incompatible default values across subgraphs: it has '
                + parts[0]
                + " but "
                + " and ".join(parts[1:]),
            )
            return present[0]
        if len(present) != len(values):
            return None  # a default in only some subgraphs: the supergraph has none
        return present[0]

    def _merge_type_ref(
        self,
        coordinate: str,
        element: str,
        types: dict[int, TypeRef],
        input_position: bool,
    ) -> tuple[TypeRef, bool]:
        dest: TypeRef | None = None
        has_subtypes = False
        incompatible = False
        for t in types.values():
            if dest is None or dest == t:
                dest = t
            elif self._is_strict_subtype(dest, t):
                has_subtypes = True
                if input_position:
                    dest = t
            elif self._is_strict_subtype(t, dest):
                has_subtypes = True
                if not input_position:
                    dest = t
            else:
                incompatible = True
        assert dest is not None
        if incompatible:
            groups: dict[str, list[str]] = {}
            for i, t in types.items():
                groups.setdefault(str(t), []).append(self.names[i])
            parts = [f'type "{t}" in {print_subgraph_names(subs)}' for t, subs in groups.items()]
            code = "ARGUMENT_TYPE_MISMATCH" if element == "argument" else "FIELD_TYPE_MISMATCH"
            self._error(
                code,
                f'Type of {element} "{coordinate}" is incompatible across subgraphs: it has '
                + parts[0]
                + " but "
                + " and ".join(parts[1:]),
            )
            return dest, False
        return dest, not has_subtypes

    def _is_strict_subtype(self, sup: TypeRef, sub: TypeRef) -> bool:
        """Whether `sub` is a strict subtype of `sup` under Apollo's default subtyping rules."""
        if sub.kind == "non_null":
            assert sub.of is not None
            if sup.kind == "non_null":
                assert sup.of is not None
                return self._is_strict_subtype(sup.of, sub.of)
            return sup == sub.of or self._is_strict_subtype(sup, sub.of)
        if sup.kind == "non_null":
            return False
        if sup.kind == "list" and sub.kind == "list":
            assert sup.of is not None
            assert sub.of is not None
            return self._is_strict_subtype(sup.of, sub.of)
        if sup.kind == "list" or sub.kind == "list":
            return False
        target = self.types.get(sup.name)
        member = self.types.get(sub.name)
        if target is None or member is None:
            return False
        if target.kind == UNION:
            return sub.name in target.members
        if target.kind == INTERFACE:
            return sup.name in member.interfaces
        return False

    def _record_enum_usage(self, type_name: str, position: str, coordinate: str) -> None:
        if self.kinds.get(type_name) == ENUM:
            self.enum_usage.setdefault(type_name, set()).add(position)
            self.enum_examples.setdefault(type_name, {}).setdefault(position, coordinate)

    # --- unions, enums, inputs, scalars -----------------------------------------------------

    def _merge_union(self, name: str) -> None:
        dest = self.types[name]
        sources = self._sources(name)
        head, tail = self._type_directives(name)
        dest.directives.extend(head)
        dest.description = self._description([t.description for _, t in sources])
        for _, t in sources:
            for member in t.members:
                if member not in dest.members:
                    dest.members.append(member)
        for member in dest.members:
            for idx, t in sources:
                if member in t.members:
                    dest.directives.append(
                        Applied(
                            "join__unionMember",
                            (("graph", self._graph(idx)), ("member", string_value(member))),
                        )
                    )
        dest.directives.extend(tail)

    def _merge_scalar(self, name: str) -> None:
        dest = self.types[name]
        sources = self._sources(name)
        head, tail = self._type_directives(name)
        dest.directives.extend(head + tail)
        dest.description = self._description([t.description for _, t in sources])

    def _merge_enum(self, name: str) -> None:
        dest = self.types[name]
        sources = self._sources(name)
        head, tail = self._type_directives(name)
        dest.directives.extend(head)
        dest.description = self._description([t.description for _, t in sources])
        usage = self.enum_usage.get(name, {"Output"})
        position = "Both" if len(usage) == 2 else next(iter(usage))
        value_names: list[str] = []
        for _, t in sources:
            for v in t.values:
                if v not in value_names:
                    value_names.append(v)
        for vname in value_names:
            values = [(idx, t.values[vname]) for idx, t in sources if vname in t.values]
            inaccessible, access, others = self._merge_applied([v.directives for _, v in values])
            missing = len(values) != len(sources)
            if missing and not inaccessible and position != "Output":
                if position == "Both":
                    examples = self.enum_examples.get(name, {})
                    having = [self.names[i] for i, _ in values]
                    lacking = [self.names[i] for i, t in sources if vname not in t.values]
                    self._error(
                        "ENUM_VALUE_MISMATCH",
                        f'Enum type "{name}" is used as both input type (for example, as type of '
                        f'"{examples.get("Input")}") and output type (for example, as type of '
                        f'"{examples.get("Output")}"), but value "{vname}" is not defined in all '
                        f'the subgraphs defining "{name}": "{vname}" is defined in '
                        f"{print_subgraph_names(having)} but not in "
                        f"{print_subgraph_names(lacking)}",
                    )
                continue
            joins = [
                Applied("join__enumValue", (("graph", self._graph(idx)),)) for idx, _ in values
            ]
            dest.values[vname] = MergedEnumValue(
                vname,
                self._description([v.description for _, v in values]),
                inaccessible + joins + access + others,
            )
        if not dest.values:
            self._error(
                "EMPTY_MERGED_ENUM_TYPE",
                f'None of the values of enum type "{name}" are defined consistently in all the '
                "subgraphs defining that type. As only values common to all subgraphs are "
                "merged, this would result in an empty type.",
            )
        dest.directives.extend(tail)

    def _merge_input(self, name: str) -> None:
        dest = self.types[name]
        sources = self._sources(name)
        head, tail = self._type_directives(name)
        dest.directives.extend(head)
        dest.description = self._description([t.description for _, t in sources])
        field_names: list[str] = []
        for _, t in sources:
            for fname in t.fields:
                if fname not in field_names:
                    field_names.append(fname)
        for fname in field_names:
            coordinate = f"{name}.{fname}"
            per = {idx: t.fields.get(fname) for idx, t in sources}
            fields = {i: f for i, f in per.items() if f is not None}
            inaccessible, access, others = self._merge_applied(
                [f.directives for f in fields.values()]
            )
            merged_type, all_equal = self._merge_type_ref(
                coordinate, "field", {i: f.type for i, f in fields.items()}, True
            )
            default = self._merge_default(
                coordinate, "Input field", {i: f.default for i, f in fields.items()}
            )
            # Usage counts even for a field dropped below, as in Apollo's composition.
            self._record_enum_usage(merged_type.base, "Input", coordinate)
            if len(fields) != len(per) and not inaccessible:
                required = [
                    self.names[i]
                    for i, f in fields.items()
                    if f.type.is_non_null and f.default is None
                ]
                if required:
                    missing = [self.names[i] for i, f in per.items() if f is None]
                    self._error(
                        "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
                        f'Input object field "{coordinate}" is required in some subgraphs but '
                        f"does not appear in all subgraphs: it is required in "
                        f"{print_subgraph_names(required)} but does not appear in "
                        f"{print_subgraph_names(missing)}",
                    )
                continue
            joins: list[Applied] = []
            if not all_equal or len(fields) != len(per):
                for i, f in fields.items():
                    args: list[tuple[str, str]] = [("graph", self._graph(i))]
                    if not all_equal:
                        args.append(("type", string_value(str(f.type))))
                    joins.append(Applied("join__field", tuple(args)))
            dest.fields[fname] = MergedField(
                name=fname,
                type=merged_type,
                description=self._description([f.description for f in fields.values()]),
                directives=inaccessible + joins + access + others,
                default=default,
            )
        if not dest.fields:
            self._error(
                "EMPTY_MERGED_INPUT_TYPE",
                f'None of the fields of input object type "{name}" are consistently defined in '
                "all the subgraphs defining that type. As only fields common to all subgraphs "
                "are merged, this would result in an empty type.",
            )
        dest.directives.extend(tail)

    # --- final checks ----------------------------------------------------------------------

    def _validate_references(self) -> None:
        builtin = {"String", "Int", "Float", "Boolean", "ID"}
        for t in self.types.values():
            for f in t.fields.values():
                if f.type.base not in self.types and f.type.base not in builtin:
                    self._error(
                        "INVALID_GRAPHQL",
                        f'Unknown type "{f.type.base}" referenced by "{t.name}.{f.name}".',
                    )
            for itf in t.interfaces:
                if self.kinds.get(itf) != INTERFACE:
                    self._error(
                        "INVALID_GRAPHQL",
                        f'Type "{t.name}" implements "{itf}", which is not an interface type.',
                    )


def _valid_percent(label: str) -> bool:
    match = _PERCENT_LABEL_RE.match(label)
    return bool(match) and 0 <= float(match.group(1) if match else -1) <= 100


def dnf_conjunction(values: list[list[list[str]]]) -> list[list[str]]:
    """AND of requirements in disjunctive normal form (outer list: OR, inner lists: AND)."""
    if not values:
        return []
    normalised: list[list[list[str]]] = []
    seen: set[str] = set()
    for value in values:
        dnf = [sorted(inner) for inner in (value or [[]])]
        dnf.sort(key=json.dumps)
        key = json.dumps(dnf)
        if key not in seen:
            seen.add(key)
            normalised.append(dnf)
    result = normalised[0]
    for current in normalised[1:]:
        accumulator: list[list[str]] = []
        keys: set[str] = set()
        for left in result:
            for right in current:
                candidate = sorted([*left, *(e for e in right if e not in left)])
                key = json.dumps(candidate)
                if key not in keys:
                    keys.add(key)
                    accumulator.append(candidate)
        accumulator.sort(key=len)
        reduced: list[list[str]] = []
        for candidate in accumulator:
            if not any(set(r) <= set(candidate) for r in reduced):
                reduced.append(candidate)
        result = reduced
    return result


def _print_dnf(value: list[list[str]]) -> str:
    return (
        "["
        + ", ".join("[" + ", ".join(string_value(s) for s in inner) + "]" for inner in value)
        + "]"
    )


def _merge_list_size(applications: Sequence[Applied]) -> Applied:
    def values(name: str) -> list[str]:
        return [v for a in applications if (v := a.arg(name)) is not None and v != "null"]

    args: list[tuple[str, str]] = []
    sizes = values("assumedSize")
    if sizes:
        args.append(("assumedSize", str(max(int(v) for v in sizes))))
    for name in ("slicingArguments", "sizedFields"):
        lists = values(name)
        if lists:
            merged: list[str] = []
            for v in lists:
                for item in json.loads(v):
                    if item not in merged:
                        merged.append(item)
            args.append((name, "[" + ", ".join(string_value(s) for s in merged) + "]"))
    flags = values("requireOneSlicingArgument")
    if flags:
        args.append(
            ("requireOneSlicingArgument", "true" if all(v == "true" for v in flags) else "false")
        )
    return Applied("listSize", tuple(args))
