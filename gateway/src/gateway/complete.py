"""Response completion compiled to Python functions.

The merged subgraph data is walked once against the client's selection: fields are picked
in the client's order under their response keys, helper fields (keys, `__typename`,
required fields) are left out, and a null in a non-null position climbs to the nearest
nullable parent (GraphQL spec, "Handling Field Errors"). Each selection set becomes one
generated function at prepare time, so the per-request walk does no interpretation work.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

BUBBLE: Any = object()  # a non-null violation travelling up to the nearest nullable parent

TYPENAME = 0
LEAF = 1
OBJECT = 2
ENUM = 3
INTROSPECTION = 4


class TypeWrap:
    """Nullability and list structure of a field's type."""

    __slots__ = ("item", "nonnull")

    def __init__(self, nonnull: bool, item: TypeWrap | None) -> None:
        self.nonnull = nonnull
        self.item = item  # set for list types


class ObjShape:
    """The client's selection on one composite position."""

    __slots__ = ("by_type", "default", "static")

    def __init__(self) -> None:
        self.static: str | None = None  # concrete type name, when not abstract
        # (response key, kind, TypeWrap | None, sub-shape | enum values | None)
        self.default: list[tuple[Any, ...]] = []
        self.by_type: dict[str, list[tuple[Any, ...]]] | None = None


class Context:
    """Per-request state the generated functions need."""

    __slots__ = ("errors", "intro")

    def __init__(self, errors: list[dict[str, Any]], intro: dict[str, Any] | None) -> None:
        self.errors = errors
        self.intro = intro

    def bad_enum(self, value: Any) -> None:
        self.errors.append({"message": f"Enum value {value!r} is not part of the API schema"})


CompiledFn = Callable[[dict[str, Any], Context], Any]


def complete_list(x: Any, tw: TypeWrap, kind: int, sub: Any, ctx: Context) -> Any:
    """Complete a list value; returns the list, None (nullable failure) or BUBBLE."""
    if type(x) is not list:
        return BUBBLE
    item = tw.item
    assert item is not None
    if item.item is None and kind == LEAF:
        if item.nonnull and None in x:
            return BUBBLE
        return x
    out: list[Any] = []
    for e in x:
        if e is None:
            if item.nonnull:
                return BUBBLE
            out.append(None)
            continue
        if item.item is not None:
            r = complete_list(e, item, kind, sub, ctx)
        elif kind == OBJECT:
            r = sub(e, ctx) if type(e) is dict else None
        elif kind == ENUM:
            if e in sub:
                r = e
            else:
                ctx.bad_enum(e)
                r = None
        else:
            r = e
        if r is None or r is BUBBLE:
            if item.nonnull:
                return BUBBLE
            r = None
        out.append(r)
    return out


class Compiler:
    """Generates one function per selection set (shared namespace per operation)."""

    def __init__(self, hidden: frozenset[str]) -> None:
        self.ns: dict[str, Any] = {
            "BUBBLE": BUBBLE,
            "complete_list": complete_list,
            "HIDDEN": hidden,
            "dict": dict,
            "type": type,
        }
        self.lines: list[str] = []
        self._n = itertools.count()

    def compile(self, shape: ObjShape) -> CompiledFn:
        name = self._shape(shape)
        src = "\n".join(self.lines)
        exec(compile(src, "<gateway-completion>", "exec"), self.ns)  # noqa: S102 - generated from the schema, not from input
        fn: CompiledFn = self.ns[name]
        return fn

    def _const(self, value: Any) -> str:
        n = f"_c{next(self._n)}"
        self.ns[n] = value
        return n

    def _shape(self, shape: ObjShape) -> str:
        if shape.by_type is None:
            return self._fields(shape.default, repr(shape.static))
        table = {tn: self._fields(fields, "None") for tn, fields in shape.by_type.items()}
        default = self._fields(shape.default, "None")
        name = f"_a{next(self._n)}"
        tbl = self._const(table)
        self.lines += [
            f"def {name}(v, ctx):",
            "    tn = v.get('__typename')",
            f"    f = {tbl}.get(tn)",
            "    if f is None:",
            "        if tn in HIDDEN:",
            "            return None",  # an object of an @inaccessible type reads as null
            f"        f = {default}",
            "    return f(v, ctx)",
        ]
        # The table holds names; resolve them to functions once everything is defined.
        self.lines.append(f"{tbl} = {{k: globals()[n] for k, n in {tbl}.items()}}")
        return name

    def _fields(self, fields: list[tuple[Any, ...]], static: str) -> str:
        subs: list[str | None] = []
        for _key, kind, _tw, sub in fields:
            subs.append(self._shape(sub) if kind == OBJECT else None)
        name = f"_o{next(self._n)}"
        body = [f"def {name}(v, ctx):", "    out = {}"]
        for (key, kind, tw, sub), sub_name in zip(fields, subs, strict=True):
            k = repr(key)
            if kind == TYPENAME:
                if static != "None":
                    body.append(f"    out[{k}] = v.get('__typename') or {static}")
                else:
                    body.append(f"    out[{k}] = v.get('__typename')")
                continue
            if kind == INTROSPECTION:
                body.append(f"    out[{k}] = ctx.intro.get({k}) if ctx.intro is not None else None")
                continue
            body.append(f"    x = v.get({k})")
            on_null = "return BUBBLE" if tw.nonnull else "x = None"
            if tw.item is not None:
                tw_c = self._const(tw)
                sub_c = sub_name if kind == OBJECT else self._const(sub)
                body += [
                    "    if x is not None:",
                    f"        x = complete_list(x, {tw_c}, {kind}, {sub_c}, ctx)",
                    "    if x is None or x is BUBBLE:",
                    f"        {on_null}",
                ]
            elif kind == OBJECT:
                body += [
                    "    if x is not None:",
                    f"        x = {sub_name}(x, ctx) if type(x) is dict else None",
                    "    if x is None or x is BUBBLE:",
                    f"        {on_null}",
                ]
            elif kind == ENUM:
                allowed = self._const(sub)
                body += [
                    f"    if x is not None and x not in {allowed}:",
                    "        ctx.bad_enum(x)",
                    "        x = None",
                ]
                if tw.nonnull:
                    body += ["    if x is None:", "        return BUBBLE"]
            elif tw.nonnull:
                body += ["    if x is None:", "        return BUBBLE"]
            body.append(f"    out[{k}] = x")
        body.append("    return out")
        self.lines += body
        return name
