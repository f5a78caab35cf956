"""`@authenticated`, `@requiresScopes` and `@policy` from the supergraph, enforced before any
subgraph fetch.

The protected coordinates (`Type.field`) an operation touches are found once per cached
document; a request only evaluates those few requirements against its caller. A field the
caller may not see is removed from the operation that is planned (the response shape keeps
it, so it reads as null and null propagation applies) and reported at its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)

from gateway.supergraph import Supergraph
from kopano.auth import Principal

Coordinate = tuple[str, str]  # (parent type, field name)


class PolicyEvaluator(Protocol):
    """Decides whether a caller satisfies one named `@policy`."""

    def allows(self, policy: str, principal: Principal) -> bool: ...


class RolePolicies:
    """Policies mapped to roles: a policy holds when the caller has any of its roles.
    An unknown policy never holds."""

    def __init__(self, policies: Mapping[str, Sequence[str]]) -> None:
        self.policies = {k: frozenset(v) for k, v in policies.items()}

    def allows(self, policy: str, principal: Principal) -> bool:
        roles = self.policies.get(policy)
        return roles is not None and not roles.isdisjoint(principal.roles)


@dataclass(frozen=True, slots=True)
class Requirement:
    authenticated: bool = False
    scopes: tuple[tuple[tuple[str, ...], ...], ...] = ()  # each: OR of AND-groups
    policies: tuple[tuple[tuple[str, ...], ...], ...] = ()

    def check(self, principal: Principal | None, evaluator: PolicyEvaluator) -> str | None:
        """None when allowed, else the error code."""
        if principal is None:
            return "UNAUTHENTICATED"
        for groups in self.scopes:
            if not any(all(principal.has_scope(s) for s in g) for g in groups):
                return "FORBIDDEN"
        for groups in self.policies:
            if not any(all(evaluator.allows(p, principal) for p in g) for g in groups):
                return "FORBIDDEN"
        return None


def _groups(value: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(tuple(str(x) for x in g) for g in value if isinstance(g, list))


def _requirement(*dirs: Mapping[str, Any]) -> Requirement | None:
    auth = False
    scopes: list[tuple[tuple[str, ...], ...]] = []
    policies: list[tuple[tuple[str, ...], ...]] = []
    for d in dirs:
        if "authenticated" in d:
            auth = True
        rs = d.get("requiresScopes")
        if isinstance(rs, dict):
            scopes.append(_groups(rs.get("scopes")))
        po = d.get("policy")
        if isinstance(po, dict):
            policies.append(_groups(po.get("policies")))
    if not auth and not scopes and not policies:
        return None
    return Requirement(auth or bool(scopes) or bool(policies), tuple(scopes), tuple(policies))


def protected_coordinates(sg: Supergraph, schema: GraphQLSchema) -> dict[Coordinate, Requirement]:
    """Every API field that carries a requirement, directly or through its parent or return
    type. An interface field is protected when any implementation's field is."""
    out: dict[Coordinate, Requirement] = {}
    for tname, t in schema.type_map.items():
        fields = getattr(t, "fields", None)
        if tname.startswith("__") or fields is None or not hasattr(t, "interfaces"):
            continue
        tm = sg.types.get(tname)
        for fname, fdef in fields.items():
            fm = tm.fields.get(fname) if tm is not None else None
            ret = sg.types.get(get_named_type(fdef.type).name)
            req = _requirement(
                tm.directives if tm is not None else {},
                fm.directives if fm is not None else {},
                ret.directives if ret is not None else {},
            )
            if req is not None:
                out[(tname, fname)] = req
                for iface in getattr(t, "interfaces", ()):
                    if fname in iface.fields:
                        prev = out.get((iface.name, fname))
                        out[(iface.name, fname)] = _combine(prev, req)
    return out


def _combine(a: Requirement | None, b: Requirement) -> Requirement:
    if a is None:
        return b
    return Requirement(True, a.scopes + b.scopes, a.policies + b.policies)


@dataclass(slots=True)
class Guard:
    """The protected fields one operation touches and their response paths."""

    requirements: dict[Coordinate, Requirement]
    paths: dict[Coordinate, list[list[str]]]

    def denied(
        self, principal: Principal | None, evaluator: PolicyEvaluator
    ) -> dict[Coordinate, str]:
        out: dict[Coordinate, str] = {}
        for coord, req in self.requirements.items():
            code = req.check(principal, evaluator)
            if code is not None:
                out[coord] = code
        return out

    def errors(self, denied: Mapping[Coordinate, str]) -> list[dict[str, Any]]:
        errs: list[dict[str, Any]] = []
        for coord, code in denied.items():
            for path in self.paths.get(coord, ()):
                errs.append(
                    {
                        "message": f"Unauthorized field or type: {coord[0]}.{coord[1]}",
                        "path": path,
                        "extensions": {"code": code},
                    }
                )
        return errs


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        protected: Mapping[Coordinate, Requirement],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.protected = protected
        self.found: dict[Coordinate, list[list[str]]] = {}

    def walk(
        self, parent: Any, sel: SelectionSetNode, path: list[str], seen: frozenset[str]
    ) -> None:
        for s in sel.selections:
            if isinstance(s, FieldNode):
                name = s.name.value
                key = s.alias.value if s.alias is not None else name
                here = [*path, key]
                coord = (parent.name, name)
                if coord in self.protected:
                    lst = self.found.setdefault(coord, [])
                    if here not in lst:
                        lst.append(here)
                    continue  # nothing below a removed field is fetched
                fdef = getattr(parent, "fields", {}).get(name)
                if fdef is not None and s.selection_set is not None:
                    self.walk(get_named_type(fdef.type), s.selection_set, here, seen)
            elif isinstance(s, InlineFragmentNode):
                t = parent
                if s.type_condition is not None:
                    t = self.schema.get_type(s.type_condition.name.value) or parent
                self.walk(t, s.selection_set, path, seen)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag is not None and s.name.value not in seen:
                    t = self.schema.get_type(frag.type_condition.name.value) or parent
                    self.walk(t, frag.selection_set, path, seen | {s.name.value})


def guard_for(
    schema: GraphQLSchema,
    op: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    protected: Mapping[Coordinate, Requirement],
) -> Guard | None:
    """None when the operation touches no protected field (the usual case)."""
    if not protected:
        return None
    root = schema.get_root_type(op.operation)
    assert root is not None
    w = _Walker(schema, fragments, protected)
    w.walk(root, op.selection_set, [], frozenset())
    if not w.found:
        return None
    return Guard({c: protected[c] for c in w.found}, w.found)


_TYPENAME = FieldNode(name=NameNode(value="__typename"))


def strip_fields(
    schema: GraphQLSchema,
    op: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    denied: frozenset[Coordinate],
) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]]:
    """The operation and fragments without the denied fields; a selection set left empty
    keeps `__typename` so it stays valid."""

    def sel_set(parent: Any, sel: SelectionSetNode) -> SelectionSetNode:
        out: list[Any] = []
        for s in sel.selections:
            if isinstance(s, FieldNode):
                name = s.name.value
                if (parent.name, name) in denied:
                    continue
                fdef = getattr(parent, "fields", {}).get(name)
                if fdef is not None and s.selection_set is not None:
                    s = _copy(s, selection_set=sel_set(get_named_type(fdef.type), s.selection_set))
                out.append(s)
            elif isinstance(s, InlineFragmentNode):
                t = parent
                if s.type_condition is not None:
                    t = schema.get_type(s.type_condition.name.value) or parent
                out.append(_copy(s, selection_set=sel_set(t, s.selection_set)))
            else:
                out.append(s)
        if not out:
            out.append(_TYPENAME)
        return SelectionSetNode(selections=tuple(out))

    root = schema.get_root_type(op.operation)
    assert root is not None
    new_op = _copy(op, selection_set=sel_set(root, op.selection_set))
    new_frags = {}
    for name, f in fragments.items():
        t = schema.get_type(f.type_condition.name.value)
        new_frags[name] = _copy(f, selection_set=sel_set(t, f.selection_set)) if t else f
    return new_op, new_frags


def _copy(node: Any, **changes: Any) -> Any:
    kw = {k: getattr(node, k) for k in node.keys if k != "loc"}
    kw.update(changes)
    return type(node)(**kw)
