"""Query planner: turns a client operation into subgraph fetches.

The planner walks the client's selection set once per (document, operation, condition
values). Fields a subgraph can resolve stay in that subgraph's fetch; the rest are
"leftovers" that move to another subgraph through an `_entities` fetch on the nearest
entity, choosing a key the current subgraph can provide. Every subgraph query is printed
here, so the executor only sends strings.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    print_ast,
)
from graphql.language import Visitor, visit

from gateway.supergraph import Supergraph, TypeMeta

INTROSPECTION_ROOT_FIELDS = frozenset({"__schema", "__type"})


class PlanningError(Exception):
    """The supergraph cannot satisfy the operation."""


class _KeyUnavailable(PlanningError):
    """The fields of the chosen key cannot be selected at this position."""


# -- subgraph selection trees -------------------------------------------------------------


class SelTree:
    """A subgraph selection set under construction (fields by response key, then fragments)."""

    __slots__ = ("fields", "fragments", "registry")

    def __init__(self) -> None:
        self.fields: dict[str, FieldSel] = {}
        self.fragments: dict[str, SelTree] = {}
        # Shared by sibling fragments: response key -> subgraph type, to spot conflicts.
        self.registry: dict[str, str] | None = None

    def add_field(self, key: str, name: str, args: tuple[ArgumentNode, ...]) -> FieldSel:
        cur = self.fields.get(key)
        if cur is not None:
            if cur.name != name:
                raise PlanningError(f"conflicting selections for {key!r}")
            return cur
        fs = FieldSel(key, name, args)
        self.fields[key] = fs
        return fs

    def fragment(self, type_name: str) -> SelTree:
        t = self.fragments.get(type_name)
        if t is None:
            t = SelTree()
            self.fragments[type_name] = t
        return t

    def is_empty(self) -> bool:
        return not self.fields and not any(not f.is_empty() for f in self.fragments.values())

    def print(self, out: list[str], variables: set[str]) -> None:
        out.append("{")
        first = True
        for fs in self.fields.values():
            if not first:
                out.append(" ")
            first = False
            if fs.key != fs.name:
                out.append(fs.key)
                out.append(":")
            out.append(fs.name)
            if fs.args:
                out.append("(")
                out.append(",".join(f"{a.name.value}:{print_ast(a.value)}" for a in fs.args))
                out.append(")")
                for a in fs.args:
                    _collect_vars(a.value, variables)
            if fs.sub is not None:
                if fs.sub.is_empty():
                    fs.sub.fields["__typename"] = FieldSel("__typename", "__typename", ())
                fs.sub.print(out, variables)
        for tname, sub in self.fragments.items():
            if sub.is_empty():
                continue
            if not first:
                out.append(" ")
            first = False
            out.append(f"...on {tname}")
            sub.print(out, variables)
        out.append("}")


class FieldSel:
    __slots__ = ("args", "key", "name", "out_key", "sub")

    def __init__(self, key: str, name: str, args: tuple[ArgumentNode, ...]) -> None:
        self.key = key  # the key in the subgraph query
        self.out_key = key  # the key in the merged response (differs for internal aliases)
        self.name = name
        self.args = args
        self.sub: SelTree | None = None


def rename_keys(obj: Any, tree: SelTree) -> None:
    """Move internally aliased fields of a subgraph response back to their response keys."""
    if isinstance(obj, list):
        for x in obj:
            rename_keys(x, tree)
        return
    if not isinstance(obj, dict):
        return
    for fs in tree.fields.values():
        if fs.key != fs.out_key and fs.key in obj:
            obj[fs.out_key] = obj.pop(fs.key)
        if fs.sub is not None:
            v = obj.get(fs.out_key)
            if v is not None:
                rename_keys(v, fs.sub)
    tn = obj.get("__typename")
    for tname, sub in tree.fragments.items():
        if tname == tn or tn is None:
            rename_keys(obj, sub)


def _collect_vars(node: Any, out: set[str]) -> None:
    class V(Visitor):
        def enter_variable(self, n: VariableNode, *_: Any) -> None:
            out.add(n.name.value)

    visit(node, V())


# -- representations ---------------------------------------------------------------------

# A representation shape: entries of (output name, source key, sub-shape) and, for
# fragments inside @requires, ("...", type name, sub-shape).
RepShape = list[tuple[str, Any, Any]]


@dataclass(slots=True)
class RepSpec:
    typename: str  # __typename sent to the subgraph
    shape: RepShape
    keys: tuple[str, ...] = ()  # top-level key fields: a null one means "cannot resolve"
    flat: tuple[str, ...] | None = None  # source keys, when every entry is a plain scalar

    def __post_init__(self) -> None:
        if all(name != "..." and sub is None for name, _, sub in self.shape):
            self.flat = tuple(src for _, src, _ in self.shape)


# -- plan --------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Fetch:
    id: int
    graph: str
    entity: bool
    path: tuple[str, ...]
    tree: SelTree
    reps: dict[str, RepSpec] = field(default_factory=dict)  # keyed by the data's __typename
    depends: set[int] = field(default_factory=set)
    query: str = ""
    variables: tuple[str, ...] = ()
    level: int = 0
    operation: str = "query"
    renames: bool = False  # the subgraph query uses internal aliases to undo
    body: str = ""  # the printed selection set


@dataclass(eq=False, slots=True)
class Batch:
    """Entity fetches of one level to one subgraph, sent as one request (aliased
    `_entities` fields, one representations variable each)."""

    graph: str
    fetches: list[Fetch]
    query: str = ""
    variables: tuple[str, ...] = ()
    # Members asking the same selection with the same representations share one
    # `_entities` field (and one deduplicated representations list): group i is `_i`.
    groups: list[list[Fetch]] = field(default_factory=list)


Unit = Fetch | Batch


@dataclass(slots=True)
class Plan:
    """Fetches grouped in stages; each stage's levels run in order, a level in parallel."""

    stages: list[list[list[Unit]]]
    fetch_count: int = 0

    def describe(self) -> dict[str, Any]:
        out = []
        for si, stage in enumerate(self.stages):
            for li, level in enumerate(stage):
                for u in level:
                    members = u.fetches if isinstance(u, Batch) else [u]
                    for f in members:
                        entry: dict[str, Any] = {
                            "stage": si,
                            "level": li,
                            "id": f.id,
                            "subgraph": f.graph,
                            "entity": f.entity,
                            "path": list(f.path),
                            "dependsOn": sorted(f.depends),
                            "query": f.query,
                        }
                        if isinstance(u, Batch):
                            entry["batch"] = u.query
                        out.append(entry)
        return {"fetches": out}


# -- planner -----------------------------------------------------------------------------


class Planner:
    """Plans one operation (with its @skip/@include conditions already decided)."""

    def __init__(
        self,
        sg: Supergraph,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        conditions: dict[str, Any],
    ) -> None:
        self.sg = sg
        self.op = operation
        self.fragments = fragments
        self.conditions = conditions
        self.fetches: list[Fetch] = []
        self._entity_index: dict[tuple[Any, ...], Fetch] = {}
        self._ids = itertools.count()
        self._req_alias = itertools.count()
        self._active: list[tuple[tuple[str, ...], str, str]] = []
        # Fetches created while planning a @requires get their own namespace, so they are
        # never merged into the fetch that consumes the required fields.
        self._ns: tuple[Any, ...] = ()
        self.var_types = {
            v.variable.name.value: print_ast(v.type)
            + (f"={print_ast(v.default_value)}" if v.default_value is not None else "")
            for v in operation.variable_definitions or ()
        }

    # -- helpers -------------------------------------------------------------------------

    def included(self, sel: Any) -> bool:
        for d in sel.directives or ():
            n = d.name.value
            if n in ("skip", "include"):
                arg = next((a for a in d.arguments or () if a.name.value == "if"), None)
                if arg is None:
                    continue
                v = arg.value
                val = (
                    bool(self.conditions.get(v.name.value))
                    if isinstance(v, VariableNode)
                    else bool(getattr(v, "value", False))
                )
                if (n == "skip" and val) or (n == "include" and not val):
                    return False
        return True

    def applies(self, cond: str, type_name: str) -> bool:
        if cond == type_name:
            return True
        return type_name in self.sg.possible.get(cond, ())

    def collect(
        self,
        type_name: str,
        selections: Any,
        out: dict[str, list[FieldNode]] | None = None,
    ) -> dict[str, list[FieldNode]]:
        if out is None:
            out = {}
        for sel in selections:
            if not self.included(sel):
                continue
            if isinstance(sel, FieldNode):
                key = sel.alias.value if sel.alias else sel.name.value
                out.setdefault(key, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                if sel.type_condition is None or self.applies(
                    sel.type_condition.name.value, type_name
                ):
                    self.collect(type_name, sel.selection_set.selections, out)
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag is not None and self.applies(frag.type_condition.name.value, type_name):
                    self.collect(type_name, frag.selection_set.selections, out)
        return out

    def tm(self, name: str) -> TypeMeta:
        t = self.sg.types.get(name)
        if t is None:
            raise PlanningError(f"unknown type {name}")
        return t

    def is_composite(self, name: str) -> bool:
        t = self.sg.types.get(name)
        return t is not None and t.kind in ("object", "interface", "union")

    def is_abstract_in(self, name: str, graph: str) -> bool:
        t = self.tm(name)
        if t.kind == "union":
            return True
        return t.kind == "interface" and graph not in t.interface_object_in

    def resolvable(
        self,
        graph: str,
        type_name: str,
        fname: str,
        provided: dict[str, list[Any]] | None,
        requires_ok: bool = False,
    ) -> bool:
        if fname == "__typename":
            return True
        fm = self.tm(type_name).fields.get(fname)
        if fm is None:
            return False
        if graph in fm.resolvable_in:
            return requires_ok or fm.graphs[graph].requires is None
        return provided is not None and fname in provided and graph in fm.graphs

    def provided_for(
        self, provided: list[Any] | None, type_name: str
    ) -> dict[str, list[Any]] | None:
        if provided is None:
            return None
        got = self.collect(type_name, provided)
        out: dict[str, list[Any]] = {}
        for nodes in got.values():
            for n in nodes:
                subs = out.setdefault(n.name.value, [])
                if n.selection_set is not None:
                    subs.extend(n.selection_set.selections)
        return out

    def key_obtainable(
        self, graph: str, type_name: str, selection: SelectionSetNode, provided: Any
    ) -> bool:
        prov = self.provided_for(provided, type_name) if provided is not None else None
        for sel in selection.selections:
            if not isinstance(sel, FieldNode):
                return False
            name = sel.name.value
            if not self.resolvable(graph, type_name, name, prov):
                return False
            if sel.selection_set is not None:
                fm = self.tm(type_name).fields[name]
                sub_prov = prov.get(name) if prov is not None else None
                child = fm.type_name
                if self.is_abstract_in(child, graph):
                    return False
                if not self.key_obtainable(graph, child, sel.selection_set, sub_prov):
                    return False
        return True

    def new_fetch(self, graph: str, entity: bool, path: tuple[str, ...]) -> Fetch:
        f = Fetch(next(self._ids), graph, entity, path, SelTree())
        self.fetches.append(f)
        return f

    # -- entry ---------------------------------------------------------------------------

    def plan(self) -> Plan:
        op_kind = self.op.operation.value
        root = self.sg.root_types.get(op_kind, op_kind.capitalize())
        fields = self.collect(root, self.op.selection_set.selections)
        fields = {
            k: v
            for k, v in fields.items()
            if v[0].name.value not in INTROSPECTION_ROOT_FIELDS and v[0].name.value != "__typename"
        }
        stages: list[list[list[Fetch]]] = []
        if op_kind == "mutation":
            for key, nodes in fields.items():
                start = len(self.fetches)
                self.plan_root(root, {key: nodes}, op_kind, preferred=[])
                stages.append(self.levels(self.fetches[start:]))
        else:
            self.plan_root(root, fields, op_kind, preferred=[])
            stages.append(self.levels(self.fetches))
        for f in self.fetches:
            self.print_fetch(f, op_kind)
        batched = [[self.batch_level(level) for level in stage] for stage in stages if stage]
        return Plan(batched, len(self.fetches))

    def batch_level(self, level: list[Fetch]) -> list[Unit]:
        by_graph: dict[str, list[Fetch]] = {}
        out: list[Unit] = []
        for f in level:
            if f.entity:
                by_graph.setdefault(f.graph, []).append(f)
            else:
                out.append(f)
        for graph, fs in by_graph.items():
            if len(fs) == 1:
                out.append(fs[0])
                continue
            variables = tuple(sorted({v for f in fs for v in f.variables}))
            by_sig: dict[str, list[Fetch]] = {}
            for f in fs:
                sig = f.body + repr(
                    sorted((tn, r.typename, repr(r.shape)) for tn, r in f.reps.items())
                )
                by_sig.setdefault(sig, []).append(f)
            groups = list(by_sig.values())
            defs = [f"$r{i}:[_Any!]!" for i in range(len(groups))]
            defs += [f"${v}:{self.var_types[v]}" for v in variables]
            body = " ".join(
                f"_{i}:_entities(representations:$r{i}){g[0].body}" for i, g in enumerate(groups)
            )
            query = f"query({','.join(defs)}){{{body}}}"
            out.append(Batch(graph, fs, query, variables, groups))
        return out

    def plan_root(
        self,
        root: str,
        fields: dict[str, list[FieldNode]],
        op_kind: str,
        preferred: list[str],
    ) -> None:
        rt = self.tm(root)
        by_graph: dict[str, dict[str, list[FieldNode]]] = {}
        used: list[str] = list(preferred)
        for key, nodes in fields.items():
            fname = nodes[0].name.value
            fm = rt.fields.get(fname)
            if fm is None:
                raise PlanningError(f"Cannot query field {fname!r} on type {root!r}")
            cands = [g for g in self.sg.graphs if g in fm.resolvable_in]
            if not cands:
                raise PlanningError(f"no subgraph can resolve {root}.{fname}")
            graph = self.choose_root_graph(root, key, nodes, cands, used)
            if graph not in used:
                used.append(graph)
            by_graph.setdefault(graph, {})[key] = nodes
        for graph, gfields in by_graph.items():
            fetch = self.new_fetch(graph, False, ())
            left = self.plan_object(fetch, graph, root, gfields, fetch.tree, (), None)
            if left:
                if op_kind == "mutation":
                    raise PlanningError("cannot plan the mutation's selection")
                left_fields = self.collect(root, left)
                tried = [*preferred, graph]
                # Root fields are entry points in every subgraph that has them: plan what
                # is left from another subgraph that resolves the same root field.
                rest: dict[str, list[FieldNode]] = {}
                for k, ns in left_fields.items():
                    fm = rt.fields[ns[0].name.value]
                    if not any(g in fm.resolvable_in for g in self.sg.graphs if g not in tried):
                        raise PlanningError(
                            f"cannot resolve the selection of {root}.{ns[0].name.value}"
                        )
                    rest[k] = ns
                # Splitting a shareable root field across subgraphs is only sound for value
                # types: with abstract types each call could answer a different runtime type.
                if any(
                    self.tm(rt.fields[ns[0].name.value].type_name).kind != "object"
                    for ns in rest.values()
                ):
                    raise PlanningError(
                        "cannot plan the operation: no subgraph resolves the whole selection"
                    )
                self.plan_root_excluding(root, rest, tried)

    def plan_root_excluding(
        self, root: str, fields: dict[str, list[FieldNode]], excluded: list[str]
    ) -> None:
        rt = self.tm(root)
        by_graph: dict[str, dict[str, list[FieldNode]]] = {}
        for key, nodes in fields.items():
            fm = rt.fields[nodes[0].name.value]
            cands = [g for g in self.sg.graphs if g in fm.resolvable_in and g not in excluded]
            graph = self.choose_root_graph(root, key, nodes, cands, [])
            by_graph.setdefault(graph, {})[key] = nodes
        for graph, gfields in by_graph.items():
            fetch = self.new_fetch(graph, False, ())
            left = self.plan_object(fetch, graph, root, gfields, fetch.tree, (), None)
            if left:
                self.plan_root_excluding(root, self.collect(root, left), [*excluded, graph])

    def choose_root_graph(
        self,
        root: str,
        key: str,
        nodes: list[FieldNode],
        cands: list[str],
        used: list[str],
    ) -> str:
        if len(cands) == 1:
            return cands[0]
        best: tuple[int, ...] | None = None
        choice = cands[0]
        for i, g in enumerate(cands):
            trial = Planner(self.sg, self.op, self.fragments, self.conditions)
            score: tuple[int, ...]
            try:
                f = trial.new_fetch(g, False, ())
                left = trial.plan_object(f, g, root, {key: nodes}, f.tree, (), None)
                moved = sum(_count_fields(x.tree) for x in trial.fetches if x.entity)
                fetches = len(trial.fetches) + (0 if g in used else 1)
                score = (1 if left else 0, fetches, moved, i)
            except PlanningError:
                score = (2, 0, 0, i)
            if best is None or score < best:
                best = score
                choice = g
        return choice

    # -- positions ---------------------------------------------------------------------

    def plan_position(
        self,
        fetch: Fetch,
        graph: str,
        type_name: str,
        selections: list[Any],
        tree: SelTree,
        path: tuple[str, ...],
        provided: list[Any] | None,
        alts: frozenset[str] = frozenset(),
    ) -> list[Any]:
        """Plan `selections` on a value of `type_name` returned by `graph`; return leftovers.

        `alts`: the subgraphs that could equally have produced this value (a shareable
        field reachable in several). Like the reference planners, only runtime types every
        one of them knows are selected, so the answer never depends on the choice.
        """
        t = self.tm(type_name)
        if t.kind == "object":
            fields = self.collect(type_name, selections)
            left = self.plan_object(
                fetch, graph, type_name, fields, tree, path, provided, alts=alts
            )
            return left
        if graph in t.interface_object_in:
            return self.plan_interface_object(
                fetch, graph, type_name, selections, tree, path, provided
            )
        # Abstract: expand per object type the subgraph can return here.
        tree.add_field("__typename", "__typename", ())
        leftovers: list[Any] = []
        runtime = self.sg.possible_in.get((type_name, graph), frozenset())
        for alt in alts:
            other = self.sg.possible_in.get((type_name, alt))
            if alt != graph and other is not None:
                runtime = runtime & other
        if not runtime:
            # No object type can come back from here: fields this subgraph does not know on
            # the abstract type itself cannot be answered at all.
            prov_e = self.provided_for(provided, type_name)
            return [
                n
                for ns in self.collect(type_name, selections).values()
                for n in ns
                if not self.resolvable(graph, type_name, n.name.value, prov_e)
            ]
        hoisted: set[str] = set()
        registry: dict[str, str] = {}
        if t.kind == "interface":
            # Leaf fields selected on the interface go on the interface itself: cheaper, and
            # subgraphs may type them differently per implementation (ID vs ID!), which
            # would make sibling fragments conflict.
            prov_i = self.provided_for(provided, type_name)
            for key, nodes in self.collect(type_name, selections).items():
                fname = nodes[0].name.value
                fm = t.fields.get(fname)
                if fm is None or self.is_composite(fm.type_name):
                    continue
                if not self.resolvable(graph, type_name, fname, prov_i):
                    continue
                if all(
                    self.resolvable(graph, r, fname, self.provided_for(provided, r))
                    for r in runtime
                ):
                    tree.add_field(key, fname, tuple(nodes[0].arguments or ()))
                    hoisted.add(key)
        for rname in self.sg.possible.get(type_name, ()):
            if rname not in runtime:
                continue
            fields = self.collect(rname, selections)
            for key in hoisted:
                fields.pop(key, None)
            if not fields:
                continue
            sub = tree.fragment(rname)
            sub.registry = registry
            left = self.plan_object(fetch, graph, rname, fields, sub, path, provided)
            if left:
                leftovers.append(
                    InlineFragmentNode(
                        type_condition=NamedTypeNode(name=NameNode(value=rname)),
                        directives=(),
                        selection_set=SelectionSetNode(selections=tuple(left)),
                    )
                )
        return leftovers

    def plan_interface_object(
        self,
        fetch: Fetch,
        graph: str,
        iname: str,
        selections: list[Any],
        tree: SelTree,
        path: tuple[str, ...],
        provided: list[Any] | None,
    ) -> list[Any]:
        """`graph` knows the interface only as an @interfaceObject (an object type)."""
        t = self.tm(iname)
        # Fields selected on the interface itself, independent of the runtime type.
        generic: dict[str, list[FieldNode]] = {}
        needs_real_type = False
        for sel in selections:
            if not self.included(sel):
                continue
            if isinstance(sel, FieldNode):
                if sel.name.value == "__typename":
                    needs_real_type = True
                    continue
                key = sel.alias.value if sel.alias else sel.name.value
                generic.setdefault(key, []).append(sel)
            else:
                cond = (
                    sel.type_condition.name.value
                    if isinstance(sel, InlineFragmentNode) and sel.type_condition
                    else self.fragments[sel.name.value].type_condition.name.value
                    if isinstance(sel, FragmentSpreadNode)
                    else None
                )
                if cond is None or cond == iname:
                    inner = (
                        sel.selection_set.selections
                        if isinstance(sel, InlineFragmentNode)
                        else self.fragments[sel.name.value].selection_set.selections
                    )
                    sub = self.plan_interface_object(
                        fetch, graph, iname, list(inner), tree, path, provided
                    )
                    if sub:
                        needs_real_type = True
                else:
                    needs_real_type = True
        left = self.plan_object(fetch, graph, iname, generic, tree, path, provided)
        if not needs_real_type and not left:
            return []
        # Resolve the real type through a subgraph where the interface is a real entity
        # interface, then plan the whole selection there.
        for g in self.sg.graphs:
            if g == graph or g in t.interface_object_in or g not in t.graphs:
                continue
            for ikey in t.keys.get(g, ()):
                if not ikey.resolvable or not self.key_obtainable(
                    graph, iname, ikey.selection, provided
                ):
                    continue
                node = self.entity_fetch(fetch, path, g, ("iface", fetch.id))
                self.add_rep(
                    fetch, graph, iname, iname, ikey.selection, None, tree, path, node, provided
                )
                node.depends.add(fetch.id)
                rest = self.plan_position(
                    node, g, iname, selections, node.tree.fragment(iname), path, None
                )
                if rest:
                    raise PlanningError(f"cannot resolve the selection on {iname}")
                return []
        if left:
            return [*itertools.chain.from_iterable(left_nodes for left_nodes in [left])]
        raise PlanningError(f"cannot resolve the runtime type of {iname}")

    def plan_object(
        self,
        fetch: Fetch,
        graph: str,
        type_name: str,
        fields: dict[str, list[FieldNode]],
        tree: SelTree,
        path: tuple[str, ...],
        provided: list[Any] | None,
        requires_ok: bool = False,
        alts: frozenset[str] = frozenset(),
    ) -> list[Any]:
        """Plan collected fields of an object type in `graph`; return leftover FieldNodes.

        `requires_ok`: this is an entity fetch whose representations carry the fields that
        `@requires` asks for, so such fields are resolvable here.
        """
        t = self.tm(type_name)
        prov = self.provided_for(provided, type_name)
        leftover: dict[str, list[FieldNode]] = {}
        is_root = type_name in self.sg.root_types.values()
        for key, nodes in fields.items():
            first = nodes[0]
            fname = first.name.value
            if fname == "__typename":
                tree.add_field(key, "__typename", ())
                continue
            fm = t.fields.get(fname)
            if fm is None:
                raise PlanningError(f"Cannot query field {fname!r} on type {type_name!r}")
            if not self.resolvable(graph, type_name, fname, prov, requires_ok):
                leftover[key] = nodes
                continue
            fg = fm.graphs.get(graph)
            if tree.registry is not None:
                ts = fg.type_str if fg is not None and fg.type_str else fm.type_str
                prev = tree.registry.setdefault(key, ts)
                if prev != ts:
                    # Same response key, different type in a sibling fragment: alias it.
                    alias = f"_a{next(self._req_alias)}_{key}"
                    fs = tree.add_field(alias, fname, tuple(first.arguments or ()))
                    fs.out_key = key
                    fetch.renames = True
                else:
                    fs = tree.add_field(key, fname, tuple(first.arguments or ()))
            else:
                fs = tree.add_field(key, fname, tuple(first.arguments or ()))
            if not self.is_composite(fm.type_name):
                continue
            if fs.sub is None:
                fs.sub = SelTree()
            subsel: list[Any] = []
            for n in nodes:
                if n.selection_set is not None:
                    subsel.extend(n.selection_set.selections)
            sub_prov: list[Any] | None = None
            if prov is not None and fname in prov:
                sub_prov = list(prov[fname])
            fg = fm.graphs.get(graph)
            if fg is not None and fg.provides is not None:
                sub_prov = [*(sub_prov or ()), *fg.provides.selections]
            child = fm.type_name
            if fg is not None and fg.type_name is not None and fg.type_name in self.sg.types:
                # The subgraph declares a narrower type (e.g. an object for a union).
                child = fg.type_name
                if child != fm.type_name:
                    fs.sub.add_field("__typename", "__typename", ())
            # Which other subgraphs could have produced this field's value here?
            if is_root or any(t.keys.values()):
                child_alts = frozenset(
                    g
                    for g in fm.resolvable_in
                    if is_root or any(k.resolvable for k in t.keys.get(g, ()))
                )
            else:
                child_alts = frozenset(g for g in alts if g in fm.resolvable_in)
            child_alts = child_alts | {graph}
            left = self.plan_position(
                fetch, graph, child, subsel, fs.sub, (*path, key), sub_prov, child_alts
            )
            if left:
                leftover[key] = [
                    FieldNode(
                        alias=first.alias,
                        name=first.name,
                        arguments=first.arguments,
                        directives=(),
                        selection_set=SelectionSetNode(selections=tuple(left)),
                    )
                ]
        if leftover and type_name not in self.sg.root_types.values():
            leftover = self.jump(fetch, graph, type_name, leftover, tree, path, provided)
        return [n for ns in leftover.values() for n in ns]

    # -- entity jumps ------------------------------------------------------------------

    def jump_targets(self, type_name: str, fname: str) -> list[tuple[str, str]]:
        """(graph, entity type in that graph) pairs that can resolve type_name.fname."""
        t = self.tm(type_name)
        fm = t.fields.get(fname)
        out: list[tuple[str, str]] = []
        if fm is None:
            return out
        for g in self.sg.graphs:
            if g in fm.resolvable_in and any(k.resolvable for k in t.keys.get(g, ())):
                out.append((g, type_name))
        for iname in t.all_interfaces:
            it = self.sg.types.get(iname)
            if it is None:
                continue
            ifm = it.fields.get(fname)
            if ifm is None:
                continue
            for g in it.interface_object_in:
                if g in ifm.resolvable_in and any(k.resolvable for k in it.keys.get(g, ())):
                    out.append((g, iname))
        return out

    def jump(
        self,
        fetch: Fetch,
        graph: str,
        type_name: str,
        leftover: dict[str, list[FieldNode]],
        tree: SelTree,
        path: tuple[str, ...],
        provided: list[Any] | None,
    ) -> dict[str, list[FieldNode]]:
        remaining = dict(leftover)
        # Never jump back into a subgraph that is already being planned at this position.
        tried: set[tuple[str, str]] = {(g, e) for (p, g, e) in self._active if p == path}
        self._active.append((path, graph, type_name))
        try:
            return self._jump(fetch, graph, type_name, remaining, tree, path, provided, tried)
        finally:
            self._active.pop()

    def _jump(
        self,
        fetch: Fetch,
        graph: str,
        type_name: str,
        remaining: dict[str, list[FieldNode]],
        tree: SelTree,
        path: tuple[str, ...],
        provided: list[Any] | None,
        tried: set[tuple[str, str]],
    ) -> dict[str, list[FieldNode]]:
        while remaining:
            # Pick the (graph, entity type) that resolves the most remaining fields with a
            # key this subgraph can provide.
            best: tuple[int, str, str, Any] | None = None
            # First keys this subgraph can provide; else keys whose fields other subgraphs
            # must supply first (fetched like @requires).
            for indirect in (False, True):
                for nodes in remaining.values():
                    for g, etype in self.jump_targets(type_name, nodes[0].name.value):
                        if (g, etype) in tried:
                            continue
                        if g == graph and etype == type_name:
                            fm = self.tm(type_name).fields[nodes[0].name.value]
                            if fm.graphs[g].requires is None:
                                continue
                        k = self.usable_key(graph, type_name, etype, g, provided, indirect)
                        if k is None:
                            continue
                        count = sum(
                            1
                            for ns in remaining.values()
                            if (g, etype) in self.jump_targets(type_name, ns[0].name.value)
                        )
                        if best is None or count > best[0]:
                            best = (count, g, etype, k)
                if best is not None:
                    break
            if best is None:
                hop = self.try_hop(fetch, graph, type_name, remaining, tree, path, provided, tried)
                if hop is None:
                    break
                remaining = hop
                continue
            _, g, etype, key = best
            tried.add((g, etype))
            chosen = {
                k: ns
                for k, ns in remaining.items()
                if (g, etype) in self.jump_targets(type_name, ns[0].name.value)
            }
            for ck in chosen:
                del remaining[ck]
            # One fetch per (subgraph, position): an entity is resolved once per subgraph,
            # with the union of the keys and required fields in its representation; fields
            # whose @requires conflict (same field, other arguments) get their own fetch.
            et = self.tm(etype)
            groups: list[tuple[dict[str, str], dict[str, list[FieldNode]], list[Any]]] = []
            for ck, ns in chosen.items():
                fg = et.fields[ns[0].name.value].graphs[g]
                sig = _requires_signature(fg.requires)
                for gsig, gfields, greqs in groups:
                    if all(gsig.get(n, a) == a for n, a in sig.items()):
                        gsig.update(sig)
                        gfields[ck] = ns
                        if fg.requires is not None:
                            greqs.append(fg.requires)
                        break
                else:
                    groups.append(
                        (dict(sig), {ck: ns}, [fg.requires] if fg.requires is not None else [])
                    )
            for gi, (_, gfields, greqs) in enumerate(groups):
                node = self.entity_fetch(fetch, path, g, () if gi == 0 else ("split", gi))
                before = len(self.fetches)
                req_sel = None
                if greqs:
                    req_sel = self.alias_requires(
                        SelectionSetNode(selections=tuple(s for r in greqs for s in r.selections))
                    )
                try:
                    self.add_rep(
                        fetch, graph, type_name, etype, key, req_sel, tree, path, node, provided
                    )
                except _KeyUnavailable:
                    # This key's fields cannot be gathered here; try another subgraph.
                    for k2, ns2 in gfields.items():
                        remaining.setdefault(k2, []).extend(ns2)
                    continue
                node.depends.add(fetch.id)
                for f in self.fetches[before:]:
                    if f is not node:
                        node.depends.add(f.id)
                rest = self.plan_object(
                    node, g, etype, gfields, node.tree.fragment(etype), path, None, True
                )
                for n in rest:
                    k2 = n.alias.value if n.alias else n.name.value
                    remaining.setdefault(k2, []).append(n)
        return remaining

    def try_hop(
        self,
        fetch: Fetch,
        graph: str,
        type_name: str,
        remaining: dict[str, list[FieldNode]],
        tree: SelTree,
        path: tuple[str, ...],
        provided: list[Any] | None,
        tried: set[tuple[str, str]],
    ) -> dict[str, list[FieldNode]] | None:
        """Go through an intermediate subgraph that can provide the target's key."""
        t = self.tm(type_name)
        for h in self.sg.graphs:
            if h == graph or (h, "hop") in tried:
                continue
            k = self.usable_key(graph, type_name, type_name, h, provided)
            if k is None:
                continue
            reachable = {}
            for key_, ns in remaining.items():
                for g, etype in self.jump_targets(type_name, ns[0].name.value):
                    if self.usable_key(h, type_name, etype, g, None) is not None:
                        reachable[key_] = ns
                        break
            if not reachable:
                continue
            tried.add((h, "hop"))
            node = self.entity_fetch(fetch, path, h, ("hop",))
            self.add_rep(fetch, graph, type_name, type_name, k, None, tree, path, node, provided)
            node.depends.add(fetch.id)
            node.tree.fragment(type_name).add_field("__typename", "__typename", ())
            rest = self.jump(
                node, h, type_name, reachable, node.tree.fragment(type_name), path, None
            )
            out = {k2: ns for k2, ns in remaining.items() if k2 not in reachable}
            out.update(rest)
            del t
            return out
        return None

    def usable_key(
        self,
        graph: str,
        type_name: str,
        etype: str,
        target: str,
        provided: list[Any] | None,
        indirect: bool = False,
    ) -> SelectionSetNode | None:
        for key in self.tm(etype).keys.get(target, ()):
            if key.resolvable and (
                indirect or self.key_obtainable(graph, type_name, key.selection, provided)
            ):
                return key.selection
        return None

    def entity_fetch(
        self, parent: Fetch, path: tuple[str, ...], graph: str, extra: tuple[Any, ...]
    ) -> Fetch:
        ix = (parent.id, path, graph, extra, self._ns)
        node = self._entity_index.get(ix)
        if node is None:
            node = self.new_fetch(graph, True, path)
            self._entity_index[ix] = node
        return node

    def alias_requires(self, sel: SelectionSetNode) -> SelectionSetNode:
        """Alias @requires fields that take arguments, so they never clash with client fields."""

        def walk(s: SelectionSetNode) -> SelectionSetNode:
            out: list[SelectionNode] = []
            for n in s.selections:
                if isinstance(n, FieldNode):
                    sub = walk(n.selection_set) if n.selection_set is not None else None
                    alias = n.alias
                    if n.arguments:
                        alias = NameNode(value=f"_r{next(self._req_alias)}_{n.name.value}")
                    out.append(
                        FieldNode(
                            alias=alias,
                            name=n.name,
                            arguments=n.arguments,
                            directives=(),
                            selection_set=sub,
                        )
                    )
                elif isinstance(n, InlineFragmentNode):
                    out.append(
                        InlineFragmentNode(
                            type_condition=n.type_condition,
                            directives=(),
                            selection_set=walk(n.selection_set),
                        )
                    )
            return SelectionSetNode(selections=tuple(out))

        return walk(sel)

    def add_rep(
        self,
        fetch: Fetch,
        graph: str,
        type_name: str,
        etype: str,
        key: SelectionSetNode,
        requires: SelectionSetNode | None,
        tree: SelTree,
        path: tuple[str, ...],
        node: Fetch,
        provided: list[Any] | None,
    ) -> None:
        """Make `fetch` select the key (+ required fields) and record the representation."""
        tree.add_field("__typename", "__typename", ())
        key = _avoid_client_aliases(key, tree)
        if requires is not None:
            requires = _avoid_client_aliases(requires, tree)
        key_fields = self.collect(type_name, key.selections)
        saved = self._ns
        self._ns = ("key", node.id)
        before = len(self.fetches)
        # While fetching this key, never plan another jump into the same target here.
        self._active.append((path, node.graph, etype))
        try:
            left = self.plan_object(fetch, graph, type_name, key_fields, tree, path, provided)
        finally:
            self._ns = saved
            self._active.pop()
        if left:
            raise _KeyUnavailable(f"cannot select the key of {type_name}")
        for f in self.fetches[before:]:
            node.depends.add(f.id)
        shape = self.rep_shape(key.selections)
        if requires is not None:
            req_fields = self.collect(type_name, requires.selections)
            saved = self._ns
            self._ns = ("req", node.id)
            try:
                left = self.plan_object(fetch, graph, type_name, req_fields, tree, path, provided)
            finally:
                self._ns = saved
            if left:
                raise PlanningError(f"cannot satisfy @requires on {type_name}")
            shape = merge_shapes(shape, self.rep_shape(requires.selections))
        keys = tuple(n.name.value for n in key.selections if isinstance(n, FieldNode))
        cur = node.reps.get(type_name)
        if cur is not None:
            shape = merge_shapes(cur.shape, shape)
            keys = tuple(dict.fromkeys((*cur.keys, *keys)))
        node.reps[type_name] = RepSpec(etype, shape, keys)

    def rep_shape(self, selections: Any) -> RepShape:
        out: RepShape = []
        for n in selections:
            if isinstance(n, FieldNode):
                src = n.alias.value if n.alias else n.name.value
                sub = self.rep_shape(n.selection_set.selections) if n.selection_set else None
                out.append((n.name.value, src, sub))
            elif isinstance(n, InlineFragmentNode):
                cond = n.type_condition.name.value if n.type_condition else ""
                types: frozenset[str] | None = None
                if cond:
                    types = frozenset({cond, *self.sg.possible.get(cond, ())})
                out.append(("...", types, self.rep_shape(n.selection_set.selections)))
        return out

    # -- output ------------------------------------------------------------------------

    def levels(self, fetches: list[Fetch]) -> list[list[Fetch]]:
        by_id = {f.id: f for f in fetches}
        memo: dict[int, int] = {}

        def level(f: Fetch, seen: frozenset[int] = frozenset()) -> int:
            if f.id in memo:
                return memo[f.id]
            if f.id in seen:
                raise PlanningError("cyclic fetch dependencies")
            lv = 0
            for d in f.depends:
                if d in by_id and d != f.id:
                    lv = max(lv, level(by_id[d], seen | {f.id}) + 1)
            memo[f.id] = lv
            return lv

        out: list[list[Fetch]] = []
        for f in fetches:
            if f.entity and f.tree.is_empty():
                continue
            lv = level(f)
            f.level = lv
            while len(out) <= lv:
                out.append([])
            out[lv].append(f)
        return [_merge_level(lvl) for lvl in out if lvl]

    def print_fetch(self, f: Fetch, op_kind: str) -> None:
        used: set[str] = set()
        body: list[str] = []
        f.tree.print(body, used)
        text = "".join(body)
        f.body = text
        var_defs = [f"${v}:{self.var_types[v]}" for v in sorted(used) if v in self.var_types]
        if f.entity:
            defs = ",".join(["$representations:[_Any!]!", *var_defs])
            f.query = f"query({defs}){{_entities(representations:$representations){text}}}"
            f.operation = "query"
        else:
            defs = f"({','.join(var_defs)})" if var_defs else ""
            f.query = f"{op_kind}{defs}{text}"
            f.operation = op_kind
        f.variables = tuple(sorted(v for v in used if v in self.var_types))


def _merge_level(level: list[Fetch]) -> list[Fetch]:
    """Fold entity fetches of one level that target the same subgraph at the same path
    into one request (their representations and selections are unioned)."""
    out: list[Fetch] = []
    seen: dict[tuple[str, tuple[str, ...]], Fetch] = {}
    for f in level:
        if not f.entity:
            out.append(f)
            continue
        key = (f.graph, f.path)
        first = seen.get(key)
        if first is not None and _mergeable(first, f):
            _merge_tree(first.tree, f.tree)
            for tn, spec in f.reps.items():
                cur = first.reps.get(tn)
                if cur is None:
                    first.reps[tn] = spec
                else:
                    first.reps[tn] = RepSpec(
                        cur.typename,
                        merge_shapes(cur.shape, spec.shape),
                        tuple(dict.fromkeys((*cur.keys, *spec.keys))),
                    )
            first.renames = first.renames or f.renames
            continue
        seen[key] = f
        out.append(f)
    return out


def _mergeable(a: Fetch, b: Fetch) -> bool:
    for tn, spec in b.reps.items():
        cur = a.reps.get(tn)
        if cur is None:
            continue
        if cur.typename != spec.typename:
            return False
        # Same field required with different arguments cannot share a representation.
        mine = {n: src for n, src, _ in cur.shape}
        if any(n in mine and mine[n] != src for n, src, _ in spec.shape):
            return False
    return _trees_compatible(a.tree, b.tree)


def _trees_compatible(a: SelTree, b: SelTree) -> bool:
    for k, fs in b.fields.items():
        cur = a.fields.get(k)
        if cur is None:
            continue
        if cur.name != fs.name or [print_ast(x) for x in cur.args] != [
            print_ast(x) for x in fs.args
        ]:
            return False
        if cur.sub is not None and fs.sub is not None and not _trees_compatible(cur.sub, fs.sub):
            return False
    for tn, sub in b.fragments.items():
        cur_t = a.fragments.get(tn)
        if cur_t is not None and not _trees_compatible(cur_t, sub):
            return False
    return True


def _merge_tree(a: SelTree, b: SelTree) -> None:
    for k, fs in b.fields.items():
        cur = a.fields.get(k)
        if cur is None:
            a.fields[k] = fs
        elif fs.sub is not None:
            if cur.sub is None:
                cur.sub = fs.sub
            else:
                _merge_tree(cur.sub, fs.sub)
    for tn, sub in b.fragments.items():
        cur_t = a.fragments.get(tn)
        if cur_t is None:
            a.fragments[tn] = sub
        else:
            _merge_tree(cur_t, sub)


def _avoid_client_aliases(sel: SelectionSetNode, tree: SelTree) -> SelectionSetNode:
    """Alias internal (key / required) fields whose name a client alias already uses for
    another field at this position, e.g. `upc: name` next to the key `upc`."""
    out: list[Any] = []
    changed = False
    for n in sel.selections:
        if isinstance(n, FieldNode):
            key = n.alias.value if n.alias else n.name.value
            cur = tree.fields.get(key)
            if cur is not None and (
                cur.name != n.name.value or cur.args != tuple(n.arguments or ())
            ):
                n = FieldNode(
                    alias=NameNode(value=f"_k_{key}"),
                    name=n.name,
                    arguments=n.arguments,
                    directives=(),
                    selection_set=n.selection_set,
                )
                changed = True
        out.append(n)
    return SelectionSetNode(selections=tuple(out)) if changed else sel


def _count_fields(tree: SelTree) -> int:
    n = 0
    for fs in tree.fields.values():
        n += 1 + (_count_fields(fs.sub) if fs.sub is not None else 0)
    for sub in tree.fragments.values():
        n += _count_fields(sub)
    return n


def _requires_signature(sel: SelectionSetNode | None) -> dict[str, str]:
    """Top-level required fields with their printed arguments (to spot conflicts)."""
    out: dict[str, str] = {}
    for n in sel.selections if sel is not None else ():
        if isinstance(n, FieldNode):
            out[n.name.value] = ",".join(print_ast(a) for a in n.arguments or ())
    return out


def merge_shapes(a: RepShape, b: RepShape) -> RepShape:
    out = list(a)
    for entry in b:
        for i, cur in enumerate(out):
            if cur[0] == entry[0] and cur[1] == entry[1]:
                if cur[2] is not None and entry[2] is not None:
                    out[i] = (cur[0], cur[1], merge_shapes(cur[2], entry[2]))
                break
        else:
            out.append(entry)
    return out


def build_representation(obj: dict[str, Any], typename: str, shape: RepShape) -> dict[str, Any]:
    rep: dict[str, Any] = {"__typename": typename}
    _fill(rep, obj, shape)
    return rep


def _fill(out: dict[str, Any], obj: dict[str, Any], shape: RepShape) -> None:
    for name, src, sub in shape:
        if name == "...":
            tn = obj.get("__typename")
            if src is None or (tn is not None and tn in src):
                if tn is not None:
                    out["__typename"] = tn
                _fill(out, obj, sub)
            continue
        v = obj.get(src)
        if sub is None or v is None:
            out[name] = v
        elif isinstance(v, list):
            out[name] = [_project(x, sub) for x in v]
        else:
            cur = out.get(name)
            d: dict[str, Any] = cur if isinstance(cur, dict) else {}
            _fill(d, v, sub)
            out[name] = d


def _project(v: Any, sub: RepShape) -> Any:
    if v is None:
        return None
    if isinstance(v, list):
        return [_project(x, sub) for x in v]
    d: dict[str, Any] = {}
    _fill(d, v, sub)
    return d
