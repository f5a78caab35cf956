"""Operation limits: tokens (checked before parsing), depth, aliases, root fields and
list-size-aware cost from `@cost`/`@listSize` (IBM GraphQL cost specification semantics).

Everything but the token count is computed once per cached document; only a cost whose
slicing arguments are variables is recomputed per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    value_from_ast_untyped,
)

from gateway.supergraph import Supergraph

# Tokens as the GraphQL lexer sees them; comments and commas are ignored. Strings first so
# their contents count as one token.
_TOKEN = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:\\.|[^"\\\n])*"|\.\.\.|[_A-Za-z][_0-9A-Za-z]*'
    r"|-?\d[\d.eE+-]*|[!$&()\[\]{}:=@|]|#[^\n\r]*"
)

DEFAULT_LIST_SIZE = 10  # a list field without @listSize
MUTATION_WEIGHT = 10  # IBM spec: a mutation root field costs 10


class LimitExceeded(Exception):
    """A request over a limit: a stable code and a client-safe message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def error(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code}}


def count_tokens(source: str, limit: int) -> int:
    """A token count that is over `limit` exactly when `source` has more than `limit`
    lexical tokens. Counting stops past the limit, so a huge document costs no more than a
    document at the limit; a short one is not counted at all."""
    if len(source) <= limit:
        return len(source)  # every token is at least one character: cannot be over
    if '"' not in source and "#" not in source:
        # Without strings and comments every whitespace-separated word holds at least one
        # token: a lower bound computed at C speed, enough to reject the huge ones.
        words = len(source.split(None, limit + 1))
        if words > limit:
            return words
    n = 0
    for m in _TOKEN.finditer(source):
        if m.group().startswith("#"):
            continue
        n += 1
        if n > limit:
            break
    return n


@dataclass(slots=True)
class Stats:
    depth: int
    aliases: int
    root_fields: int
    cost: int
    cost_vars: bool  # cost depends on variable values (slicing arguments)


class Analyzer:
    """Walks one operation (fragments expanded) against the API schema."""

    def __init__(self, schema: GraphQLSchema, supergraph: Supergraph) -> None:
        self.schema = schema
        self.sg = supergraph

    def analyze(
        self,
        op: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any] | None = None,
    ) -> Stats:
        self.fragments = fragments
        self.variables = variables or {}
        self.aliases = 0
        self.cost_vars = False
        self.depth = 0
        root = self.schema.get_root_type(op.operation)
        assert root is not None
        roots: list[tuple[Any, FieldNode]] = []
        self._fields(root, op.selection_set, roots, set())
        cost = self._cost_sel(root, op.selection_set, 1, set())
        if op.operation.value == "mutation":
            cost += MUTATION_WEIGHT * len(roots)
        return Stats(self.depth, self.aliases, len(roots), cost, self.cost_vars)

    def _fields(
        self,
        parent: Any,
        sel: SelectionSetNode,
        out: list[tuple[Any, FieldNode]],
        seen: set[str],
    ) -> None:
        for s in sel.selections:
            if isinstance(s, FieldNode):
                out.append((parent, s))
            elif isinstance(s, InlineFragmentNode):
                t = parent
                if s.type_condition is not None:
                    t = self.schema.get_type(s.type_condition.name.value) or parent
                self._fields(t, s.selection_set, out, seen)
            elif isinstance(s, FragmentSpreadNode):
                name = s.name.value
                frag = self.fragments.get(name)
                if frag is not None and name not in seen:
                    t = self.schema.get_type(frag.type_condition.name.value) or parent
                    self._fields(t, frag.selection_set, out, seen | {name})

    def _type_directives(self, name: str) -> dict[str, Any]:
        tm = self.sg.types.get(name)
        return tm.directives if tm is not None else {}

    def _field_directives(self, parent: str, field: str) -> dict[str, Any]:
        tm = self.sg.types.get(parent)
        if tm is None:
            return {}
        fm = tm.fields.get(field)
        return fm.directives if fm is not None else {}

    def _int_arg(self, node: FieldNode, name: str) -> int | None:
        for a in node.arguments or ():
            if a.name.value != name:
                continue
            v = a.value
            if isinstance(v, VariableNode):
                self.cost_vars = True
                got = self.variables.get(v.name.value)
                return got if isinstance(got, int) else None
            if isinstance(v, IntValueNode):
                return int(v.value)
            val = value_from_ast_untyped(v)
            return val if isinstance(val, int) else None
        return None

    def _cost_sel(self, parent: Any, sel: SelectionSetNode, depth: int, seen: set[str]) -> int:
        fields: list[tuple[Any, FieldNode]] = []
        self._fields(parent, sel, fields, seen)
        total = 0
        for ptype, f in fields:
            name = f.name.value
            if f.alias is not None:
                self.aliases += 1
            if name.startswith("__"):
                continue
            self.depth = max(self.depth, depth)
            owner = self._owner(ptype, name)
            if owner is None:
                continue
            fdef = owner.fields[name]
            named = get_named_type(fdef.type)
            fdirs = self._field_directives(owner.name, name)
            cost_d = fdirs.get("cost") or self._type_directives(named.name).get("cost")
            composite = isinstance(
                named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
            )
            weight = int(cost_d["weight"]) if isinstance(cost_d, dict) else int(composite)
            list_size = fdirs.get("listSize")
            sized = list_size.get("sizedFields") if isinstance(list_size, dict) else None
            children = 0
            size = 1
            if sized and f.selection_set is not None:
                # The size applies to the named child fields (connections), not here.
                n = self._list_size(f, list_size)
                children = self._sized_children(named, f, sized, n, depth)
            else:
                if f.selection_set is not None:
                    children = self._cost_sel(named, f.selection_set, depth + 1, seen)
                if is_list_type(get_nullable_type(fdef.type)):
                    size = self._list_size(f, list_size)
            total += size * (weight + children)
        return total

    def _sized_children(
        self, named: Any, f: FieldNode, sized: list[str], n: int, depth: int
    ) -> int:
        assert f.selection_set is not None
        fields: list[tuple[Any, FieldNode]] = []
        self._fields(named, f.selection_set, fields, set())
        total = 0
        for ptype, c in fields:
            owner = self._owner(ptype, c.name.value)
            if owner is None:
                continue
            sub = SelectionSetNode(selections=(c,))
            cost = self._cost_sel(ptype, sub, depth + 1, set())
            if c.name.value in sized:
                # Count the child's own weight once per item: cost(child) already used a
                # size for its list, so scale by n / that size.
                fdef = owner.fields[c.name.value]
                inner = (
                    self._list_size(c, self._field_directives(owner.name, c.name.value))
                    if is_list_type(get_nullable_type(fdef.type))
                    else 1
                )
                cost = cost * n // max(inner, 1)
            total += cost
        return total

    def _list_size(self, f: FieldNode, list_size: Any) -> int:
        if not isinstance(list_size, dict):
            return DEFAULT_LIST_SIZE
        sizes = [
            v
            for a in list_size.get("slicingArguments") or ()
            if (v := self._int_arg(f, a)) is not None
        ]
        if sizes:
            return max(sizes)
        assumed = list_size.get("assumedSize")
        return int(assumed) if isinstance(assumed, int) else DEFAULT_LIST_SIZE

    @staticmethod
    def _owner(parent: Any, name: str) -> Any:
        fields = getattr(parent, "fields", None)
        if fields is not None and name in fields:
            return parent
        return None
