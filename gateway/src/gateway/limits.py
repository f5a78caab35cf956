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
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    ValueNode,
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
    cost: float
    cost_vars: bool  # cost depends on variable values (slicing or costed arguments)
    # a field whose `@listSize(requireOneSlicingArgument: true)` is not met, with why
    slicing_error: str | None = None


# (object types a selection applies to, or None for every type of its parent, cost)
_Entry = tuple[frozenset[str] | None, float]


class Analyzer:
    """Walks one operation (fragments expanded) against the API schema.

    Cost, as the IBM GraphQL cost specification defines its weights and as Apollo combines
    them into one figure: a field costs `count x (weight + children) + arguments`, never
    below zero for its own part, where `count` is its list size (1 when not a list).
    Weights: `@cost` on the field, else on its type; composite types 1, scalars and enums
    0; an interface or union the largest weight of its possible types (an interface field
    the largest of its implementations' fields). Arguments: `@cost` on the argument or input
    field, else 1 per input object and 0 per scalar or enum, summed over nested input fields
    and list items; an argument left out counts with its schema default. Fragments with
    different type conditions count as the most expensive possible type, not their sum.
    """

    def __init__(self, schema: GraphQLSchema, supergraph: Supergraph) -> None:
        self.schema = schema
        self.sg = supergraph
        # schema-only answers, memoised per gateway (a supergraph never changes in place)
        self._type_weights: dict[str, float] = {}
        self._field_weights: dict[tuple[str, str], float] = {}
        self._matters: dict[tuple[str, str, str], bool] = {}
        self._possible: dict[str, frozenset[str]] = {}

    def analyze(
        self,
        op: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any] | None = None,
    ) -> Stats:
        self.fragments = fragments
        given = variables or {}
        # variables left out take the operation's defaults
        self.variables = {
            v.variable.name.value: value_from_ast_untyped(v.default_value)
            for v in op.variable_definitions or ()
            if v.default_value is not None and v.variable.name.value not in given
        }
        self.variables.update(given)
        self.aliases = 0
        self.cost_vars = False
        self.depth = 0
        self.slicing_error: str | None = None
        root = self.schema.get_root_type(op.operation)
        assert root is not None
        roots: list[tuple[Any, FieldNode, frozenset[str] | None]] = []
        self._collect(root, op.selection_set, roots, frozenset(), None)
        cost = self._cost_sel(root, op.selection_set, 1, None)
        if op.operation.value == "mutation":
            cost += MUTATION_WEIGHT * len(roots)
        return Stats(self.depth, self.aliases, len(roots), cost, self.cost_vars, self.slicing_error)

    # -- selections ----------------------------------------------------------------------

    def _collect(
        self,
        parent: Any,
        sel: SelectionSetNode,
        out: list[tuple[Any, FieldNode, frozenset[str] | None]],
        seen: frozenset[str],
        applies: frozenset[str] | None,
    ) -> None:
        """Fields of `sel` with fragments expanded: (type they are selected on, field, the
        object types they apply to or None for all of the parent's)."""
        for s in sel.selections:
            if s.directives and _skipped(s):
                continue
            if isinstance(s, FieldNode):
                out.append((parent, s, applies))
            elif isinstance(s, InlineFragmentNode):
                if s.type_condition is None:
                    self._collect(parent, s.selection_set, out, seen, applies)
                    continue
                t = self.schema.get_type(s.type_condition.name.value) or parent
                narrowed = self._narrow(applies, t)
                if narrowed is None or narrowed:
                    self._collect(t, s.selection_set, out, seen, narrowed)
            elif isinstance(s, FragmentSpreadNode):
                name = s.name.value
                frag = self.fragments.get(name)
                if frag is not None and name not in seen:
                    t = self.schema.get_type(frag.type_condition.name.value) or parent
                    narrowed = self._narrow(applies, t)
                    if narrowed is None or narrowed:
                        self._collect(t, frag.selection_set, out, seen | {name}, narrowed)

    def _narrow(self, applies: frozenset[str] | None, t: Any) -> frozenset[str] | None:
        possible = self._possible_types(t)
        return possible if applies is None else applies & possible

    def _possible_types(self, t: Any) -> frozenset[str]:
        got = self._possible.get(t.name)
        if got is None:
            if isinstance(t, GraphQLInterfaceType | GraphQLUnionType):
                got = frozenset(o.name for o in self.schema.get_possible_types(t))
            else:
                got = frozenset((t.name,))
            self._possible[t.name] = got
        return got

    def _cost_sel(
        self,
        parent: Any,
        sel: SelectionSetNode,
        depth: int,
        sized: tuple[frozenset[str], int] | None,
    ) -> float:
        fields: list[tuple[Any, FieldNode, frozenset[str] | None]] = []
        self._collect(parent, sel, fields, frozenset(), None)
        entries: list[_Entry] = []
        for ptype, f, applies in fields:
            name = f.name.value
            if f.alias is not None:
                self.aliases += 1
            if name.startswith("__"):
                continue
            self.depth = max(self.depth, depth)
            owner = self._owner(ptype, name)
            if owner is None:
                continue
            upstream = sized[1] if sized is not None and name in sized[0] else None
            entries.append((applies, self._field_cost(owner, f, depth, upstream)))
        return self._combine(parent, entries)

    def _combine(self, parent: Any, entries: list[_Entry]) -> float:
        """Fields for every type always count; fields under type conditions count for the
        most expensive single possible type (a response object has one type)."""
        common = 0.0
        conditional: list[_Entry] = []
        for applies, cost in entries:
            if applies is None:
                common += cost
            else:
                conditional.append((applies, cost))
        if not conditional:
            return common
        best = 0.0
        for t in self._possible_types(parent):
            best = max(best, sum(c for a, c in conditional if a is not None and t in a))
        return common + best

    def _field_cost(self, owner: Any, f: FieldNode, depth: int, upstream: int | None) -> float:
        name = f.name.value
        fdef = owner.fields[name]
        named = get_named_type(fdef.type)
        list_size = self._field_directives(owner.name, name).get("listSize")
        if not isinstance(list_size, dict):
            list_size = None
        size = self._list_size(owner.name, f, fdef, list_size) if list_size else None
        sized_fields = list_size.get("sizedFields") if list_size else None
        if not is_list_type(get_nullable_type(fdef.type)):
            count = 1
        elif upstream is not None:
            count = upstream  # a sized field of its parent (connections: edges, nodes)
        elif size is not None and not sized_fields:
            count = size
        else:
            count = DEFAULT_LIST_SIZE
        children = 0.0
        if f.selection_set is not None:
            inner = None
            if sized_fields:
                n = size if size is not None else DEFAULT_LIST_SIZE
                inner = (frozenset(str(x) for x in sized_fields), n)
            children = self._cost_sel(named, f.selection_set, depth + 1, inner)
        own = count * self._field_weight(owner, name) + self._args_cost(owner.name, f, fdef)
        return max(0.0, own) + count * children

    # -- weights -------------------------------------------------------------------------

    def _type_weight(self, t: Any) -> float:
        """Weight of an output type: `@cost` on it, else 1 for composite and 0 for leaf
        types; abstract types weigh as their heaviest possible type."""
        got = self._type_weights.get(t.name)
        if got is not None:
            return got
        if isinstance(t, GraphQLInterfaceType | GraphQLUnionType):
            got = max(
                (self._type_weight(o) for o in self.schema.get_possible_types(t)), default=1.0
            )
        else:
            w = _weight(self._type_directives(t.name).get("cost"))
            if w is None:
                w = 1.0 if isinstance(t, GraphQLObjectType) else 0.0
            got = w
        self._type_weights[t.name] = got
        return got

    def _field_weight(self, owner: Any, name: str) -> float:
        key = (owner.name, name)
        got = self._field_weights.get(key)
        if got is not None:
            return got
        own = _weight(self._field_directives(owner.name, name).get("cost"))
        if isinstance(owner, GraphQLInterfaceType):
            # `@cost` belongs on the implementations' fields: the heaviest one counts
            weights = [
                self._field_weight(o, name)
                for o in self.schema.get_possible_types(owner)
                if name in getattr(o, "fields", {})
            ]
            if own is not None:
                weights.append(own)
            if weights:
                got = max(weights)
        if got is None:
            got = own
        if got is None:
            got = self._type_weight(get_named_type(owner.fields[name].type))
        self._field_weights[key] = got
        return got

    # -- arguments -----------------------------------------------------------------------

    def _args_cost(self, owner: str, f: FieldNode, fdef: Any) -> float:
        if not fdef.args:
            return 0.0
        given = {a.name.value: a.value for a in f.arguments or ()}
        arg_dirs = self._field_meta_args(owner, f.name.value)
        total = 0.0
        for name, adef in fdef.args.items():
            if not self._arg_matters(owner, f.name.value, name, adef, arg_dirs):
                continue
            node = given.get(name)
            if node is not None:
                value = self._value(node)
            else:
                value = _default(adef)
                if value is None:
                    continue
            w = _weight((arg_dirs.get(name) or {}).get("cost"))
            total += self._input_cost(value, adef.type, w)
        return total

    def _arg_matters(
        self, owner: str, field: str, name: str, adef: Any, arg_dirs: dict[str, Any]
    ) -> bool:
        """Whether an argument can add cost at all (schema-only, memoised): a weight on it,
        an input object somewhere in it, or a weighted scalar or enum."""
        key = (owner, field, name)
        got = self._matters.get(key)
        if got is None:
            got = _weight((arg_dirs.get(name) or {}).get("cost")) is not None or (
                self._input_type_may_cost(get_named_type(adef.type))
            )
            self._matters[key] = got
        return got

    def _input_type_may_cost(self, t: Any) -> bool:
        if isinstance(t, GraphQLInputObjectType):
            return True  # an input object weighs 1
        return _weight(self._type_directives(t.name).get("cost")) is not None

    def _input_cost(self, value: Any, type_: Any, weight: float | None) -> float:
        """Cost of one argument or input field value: its weight (default 1 for an input
        object, the type's `@cost` or 0 for scalars and enums) plus its input fields; a
        list costs the sum of its items."""
        if value is None or value is Undefined:
            return 0.0
        t = get_nullable_type(type_)
        if is_list_type(t):
            items = value if isinstance(value, list) else [value]  # input coercion
            return sum(self._input_cost(v, t.of_type, weight) for v in items)
        if isinstance(t, GraphQLInputObjectType):
            total = weight if weight is not None else 1.0
            if isinstance(value, dict):
                dirs = self._input_field_dirs(t.name)
                for k, v in value.items():
                    field_def = t.fields.get(k)
                    if field_def is not None:
                        fw = _weight((dirs.get(k) or {}).get("cost"))
                        total += self._input_cost(v, field_def.type, fw)
            return total
        if weight is not None:
            return weight
        return _weight(self._type_directives(t.name).get("cost")) or 0.0

    def _value(self, node: ValueNode) -> Any:
        if _has_variable(node):
            self.cost_vars = True
        return value_from_ast_untyped(node, self.variables)

    # -- list sizes ----------------------------------------------------------------------

    def _list_size(self, owner: str, f: FieldNode, fdef: Any, list_size: dict[str, Any]) -> int:
        """`@listSize`: the largest slicing argument given, else the largest default of
        one, else `assumedSize`, else the default size. Checks `requireOneSlicingArgument`
        (on by default): exactly one slicing argument given, or none when one has a
        default."""
        slicing = [str(a) for a in list_size.get("slicingArguments") or ()]
        given: list[int] = []
        defaults: list[int] = []
        for path in slicing:
            explicit, default = self._slicing_value(f, fdef, path)
            if explicit is not None:
                given.append(explicit)
            elif default is not None:
                defaults.append(default)
        require_one = list_size.get("requireOneSlicingArgument", True) is not False
        unmet = len(given) > 1 or (not given and not defaults)
        if slicing and require_one and unmet and self.slicing_error is None:
            self.slicing_error = (
                f"{owner}.{f.name.value} needs exactly one of the slicing arguments "
                f"{', '.join(slicing)}; {len(given)} given."
            )
        if given:
            return max(given)
        if defaults:
            return max(defaults)
        assumed = list_size.get("assumedSize")
        return int(assumed) if isinstance(assumed, int) else DEFAULT_LIST_SIZE

    def _slicing_value(self, f: FieldNode, fdef: Any, path: str) -> tuple[int | None, int | None]:
        """(value given in the operation, schema default) of a slicing argument; a dotted
        path reads a field of an input object argument (`filter.first`)."""
        first, *rest = path.split(".")
        node = next((a.value for a in f.arguments or () if a.name.value == first), None)
        explicit: Any = None
        if node is not None:
            explicit = self._value(node)
        adef = fdef.args.get(first)
        default = _default(adef) if adef is not None else None
        for key in rest:
            explicit = explicit.get(key) if isinstance(explicit, dict) else None
            default = default.get(key) if isinstance(default, dict) else None
        return (
            explicit if _is_int(explicit) else None,
            default if _is_int(default) else None,
        )

    # -- directives ----------------------------------------------------------------------

    def _type_directives(self, name: str) -> dict[str, Any]:
        tm = self.sg.types.get(name)
        return tm.directives if tm is not None else {}

    def _field_directives(self, parent: str, field: str) -> dict[str, Any]:
        tm = self.sg.types.get(parent)
        if tm is None:
            return {}
        fm = tm.fields.get(field)
        return fm.directives if fm is not None else {}

    def _field_meta_args(self, parent: str, field: str) -> dict[str, Any]:
        tm = self.sg.types.get(parent)
        fm = tm.fields.get(field) if tm is not None else None
        return fm.arg_directives if fm is not None else {}

    def _input_field_dirs(self, name: str) -> dict[str, Any]:
        tm = self.sg.types.get(name)
        return tm.input_field_directives if tm is not None else {}

    @staticmethod
    def _owner(parent: Any, name: str) -> Any:
        fields = getattr(parent, "fields", None)
        if fields is not None and name in fields:
            return parent
        return None


def _weight(cost: Any) -> float | None:
    """`@cost(weight:)` as a number: Apollo's Int or the IBM specification's String."""
    if not isinstance(cost, dict):
        return None
    try:
        return float(cost["weight"])
    except (KeyError, TypeError, ValueError):
        return None


def _default(adef: Any) -> Any:
    """An argument's schema default as plain data (None when it has none); read from the
    SDL because a schema built from SDL leaves `default_value` undefined."""
    node = adef.ast_node.default_value if adef.ast_node is not None else None
    if node is not None:
        return value_from_ast_untyped(node)
    return None if adef.default_value is Undefined else adef.default_value


def _skipped(node: Any) -> bool:
    """`@skip(if: true)` or `@include(if: false)` written literally: never executed, so not
    counted. A condition from a variable counts as included (an upper bound that holds for
    every value, so the cached figures stay valid)."""
    for d in node.directives:
        name = d.name.value
        if name not in ("skip", "include"):
            continue
        cond = next((a.value for a in d.arguments or () if a.name.value == "if"), None)
        if isinstance(cond, BooleanValueNode) and cond.value == (name == "skip"):
            return True
    return False


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _has_variable(node: ValueNode) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(_has_variable(v) for v in node.values)
    if isinstance(node, ObjectValueNode):
        return any(_has_variable(f.value) for f in node.fields)
    return False
