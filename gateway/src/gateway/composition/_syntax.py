"""Small syntax helpers shared by the subgraph reader, the merger and the printer.

Type references and values are kept as plain, hashable data so that comparing two subgraphs'
definitions is a cheap equality test, and printing them reproduces the text Apollo's composition
prints (strings JSON-quoted, lists as `[a, b]`, objects as `{a: 1}`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FloatValueNode,
    IntValueNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    TypeNode,
    ValueNode,
    VariableNode,
)


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type reference: `name` for a named type, else `of` wrapped as a list or non-null."""

    kind: str  # "named" | "list" | "non_null"
    name: str = ""
    of: TypeRef | None = None

    def __str__(self) -> str:
        if self.kind == "named":
            return self.name
        assert self.of is not None
        if self.kind == "list":
            return f"[{self.of}]"
        return f"{self.of}!"

    @property
    def base(self) -> str:
        ref: TypeRef = self
        while ref.of is not None:
            ref = ref.of
        return ref.name

    @property
    def is_non_null(self) -> bool:
        return self.kind == "non_null"


def type_ref(node: TypeNode) -> TypeRef:
    if isinstance(node, NonNullTypeNode):
        return TypeRef("non_null", of=type_ref(node.type))
    if isinstance(node, ListTypeNode):
        return TypeRef("list", of=type_ref(node.type))
    assert isinstance(node, NamedTypeNode)
    return TypeRef("named", name=node.name.value)


def rename_base(ref: TypeRef, renames: dict[str, str]) -> TypeRef:
    """The same reference with its named type renamed (used for non-default root type names)."""
    if ref.kind == "named":
        return TypeRef("named", name=renames.get(ref.name, ref.name))
    assert ref.of is not None
    return TypeRef(ref.kind, of=rename_base(ref.of, renames))


# A value in printable form. Kept as the printed text: equality of printed values is exactly the
# equality Apollo's composition uses (`valueEquals`) for defaults and directive arguments.
def print_value(node: ValueNode) -> str:
    if isinstance(node, StringValueNode):
        return json.dumps(node.value, ensure_ascii=False)
    if isinstance(node, IntValueNode | FloatValueNode | EnumValueNode):
        return str(node.value)
    if isinstance(node, BooleanValueNode):
        return "true" if node.value else "false"
    if isinstance(node, NullValueNode):
        return "null"
    if isinstance(node, ListValueNode):
        return "[" + ", ".join(print_value(v) for v in node.values) + "]"
    if isinstance(node, ObjectValueNode):
        inner = ", ".join(f"{f.name.value}: {print_value(f.value)}" for f in node.fields)
        return "{" + inner + "}"
    if isinstance(node, VariableNode):
        return f"${node.name.value}"
    raise TypeError(f"unexpected value node {type(node).__name__}")


def string_value(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Applied:
    """An applied directive with its arguments already printed, in source order."""

    name: str
    args: tuple[tuple[str, str], ...] = ()

    def arg(self, name: str) -> str | None:
        for key, value in self.args:
            if key == name:
                return value
        return None

    def __str__(self) -> str:
        if not self.args:
            return f"@{self.name}"
        return f"@{self.name}(" + ", ".join(f"{k}: {v}" for k, v in self.args) + ")"


def print_block_string(value: str, prefer_multiple_lines: bool) -> str:
    """A description as a block string, laid out the way graphql-js and Apollo print it."""
    is_single_line = "\n" not in value
    has_leading_space = value[:1] in (" ", "\t")
    multi = (
        not is_single_line or value.endswith('"') or value.endswith("\\") or prefer_multiple_lines
    )
    result = ""
    if multi and not (is_single_line and has_leading_space):
        result += "\n"
    result += value
    if multi:
        result += "\n"
    return '"""' + result.replace('"""', '\\"""') + '"""'


def collation_key(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    # JavaScript's `localeCompare` (ICU root collation) sorts `_` before digits before letters and
    # compares letters case-insensitively first; Apollo sorts the supergraph's types that way.
    primary: list[int] = []
    tertiary: list[int] = []
    for ch in name:
        if ch == "_":
            primary.append(0)
        elif ch.isdigit():
            primary.append(10 + int(ch))
        elif ch.isalpha():
            primary.append(100 + ord(ch.lower()))
        else:
            primary.append(1)
        tertiary.append(1 if ch.isupper() else 0)
    return tuple(primary), tuple(tertiary)
