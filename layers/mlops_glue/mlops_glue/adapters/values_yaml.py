"""Edit one scalar of a YAML file and keep every other byte: comments, anchors, order, quoting, CRLF.

Why not ``ruamel.yaml``'s load → set → dump: a round-trip dump still normalises indentation, spacing in
flow mappings and line widths, and write-back that reformats YAML is the top complaint about GitOps
bots. So ruamel.yaml's composer locates the target scalar (its exact start/end offsets and its quoting
style) by a :mod:`~mlops_glue.targets` path — through mappings, list indexes and list selectors, in one
document of a multi-document file — only those characters are replaced, and the result is parsed again
and compared with the original: the data must equal the original with only the target value changed.

Refused with :class:`ValuesEditError`, naming file and path segment: a path that does not resolve, an
index out of range, several list items matching a selector, a value behind an anchor or alias, a block
or multi-line scalar, a file that is not YAML. A value whose YAML type would change if written plain
(``012``, ``1e3``, ``true``, ``null``, ``0x1f``, ``4`` where a string stood) is written quoted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from mlops_glue.targets import (
    ImagePart,
    Index,
    Key,
    Match,
    Step,
    TargetError,
    check_value,
    format_path,
    image_part,
    parse_path,
    set_image_part,
)


class ValuesEditError(TargetError):
    """The file cannot be edited safely; the message says why and where."""


@dataclass(frozen=True)
class Location:
    """Where one value lives in a file: an optional document (kind, name), a path, an image part."""

    path: tuple[Step, ...]
    document: tuple[str, str] | None = None
    image: ImagePart | None = None

    @classmethod
    def of(
        cls, path: str, document: tuple[str, str] | None = None, image: ImagePart | None = None
    ) -> Location:
        return cls(parse_path(path), document, image)

    def __str__(self) -> str:
        where = format_path(self.path)
        if self.document:
            where = f"{self.document[0]}/{self.document[1]}: {where}"
        return f"{where} ({self.image})" if self.image else where


@dataclass(frozen=True)
class Change:
    """What one edit did: the scalar's value before and after (whole scalars, image refs included)."""

    text: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _yaml(typ: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ=typ, pure=True)


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


MAX_BYTES = 2 * 1024 * 1024  # GitOps files are small; a larger one is not ours to rewrite


def _parse(text: str, where: str) -> tuple[list[Any], list[Any]]:
    from ruamel.yaml.error import YAMLError

    if len(text) > MAX_BYTES:
        raise ValuesEditError(f"{where} is larger than {MAX_BYTES // 1024 // 1024} MiB: edit it by hand")
    try:
        nodes = list(_yaml("rt").compose_all(text))
        data = list(_yaml("safe").load_all(text))
    except YAMLError as exc:
        raise ValuesEditError(f"{where} is not valid YAML: {_short(exc)}") from exc
    except RecursionError:
        raise ValuesEditError(f"{where} is nested too deeply to edit") from None
    except Exception as exc:  # a scalar no loader can build (2024-02-30, !!int abc): not an edit we can check
        raise ValuesEditError(f"{where} holds a value YAML cannot read: {_short(exc)}") from exc
    _bounded(data, where)
    return nodes, data


MAX_VALUES = 200_000  # values after expanding aliases; a few hundred bytes of aliases can expand to billions


def _bounded(data: Any, where: str) -> None:
    """Refuse a file whose aliases expand past MAX_VALUES (an alias bomb), counting without expanding."""
    budget = MAX_VALUES
    stack = [data]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0:
            raise ValuesEditError(
                f"{where} expands to more than {MAX_VALUES:,} values through its aliases: refusing to edit"
            )
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _is_empty(node: Any) -> bool:
    from ruamel.yaml.nodes import ScalarNode

    return node is None or (
        isinstance(node, ScalarNode) and str(node.tag).endswith(":null") and not node.value
    )


def _document(nodes: list[Any], data: list[Any], loc: Location, where: str) -> int:
    present = [i for i, n in enumerate(nodes) if not _is_empty(n)]
    if loc.document is None:
        if len(present) != 1:
            raise ValuesEditError(
                f"{where} holds {len(present)} YAML documents: name the one to edit with "
                "document: {kind: ..., name: ...}"
            )
        return present[0]
    kind, name = loc.document

    def ident(d: Any) -> tuple[Any, Any] | None:
        meta = d.get("metadata") if isinstance(d, dict) else None
        return (d.get("kind"), meta.get("name")) if isinstance(meta, dict) else None

    hits = [i for i, d in enumerate(data) if ident(d) == (kind, name)]
    if len(hits) == 1:
        return hits[0]
    found = (
        ", ".join(f"{k}/{n}" for k, n in (ident(d) or ("?", "?") for d in data if d is not None)) or "none"
    )
    if not hits:
        raise ValuesEditError(f"{where}: no document of kind {kind} named {name} (found: {found[:300]})")
    raise ValuesEditError(
        f"{where}: {len(hits)} documents of kind {kind} are named {name}: refusing to guess"
    )


def _walk(root: Any, data: Any, loc: Location, where: str) -> tuple[Any, list[Any]]:
    """The target scalar node and the concrete keys/indexes that reach it in the loaded data."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    node, concrete = root, []
    steps = loc.path
    for depth, step in enumerate(steps):
        here = format_path(steps[: depth + 1])
        parent = format_path(steps[:depth]) or "the document"
        if isinstance(step, Key):
            if not isinstance(node, MappingNode):
                raise ValuesEditError(f"{where}: {parent} is not a mapping, so {here} does not resolve")
            match = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == step.name]
            if not match:
                merged = any(
                    isinstance(k, ScalarNode) and str(k.tag).endswith(":merge") for k, _ in node.value
                )
                hint = (
                    " (it may come from a '<<' merge key: set it explicitly in this mapping)"
                    if merged
                    else ""
                )
                raise ValuesEditError(f"{where}: key {here} not found{hint}")
            if len(match) > 1:
                raise ValuesEditError(f"{where}: key {here} appears more than once")
            keys = [k for k in data if str(k) == step.name] if isinstance(data, dict) else []
            if len(keys) != 1:
                raise ValuesEditError(f"{where}: key {here} is ambiguous after parsing")
            node, data = match[0][1], data[keys[0]]
            concrete.append(keys[0])
            continue
        if not isinstance(node, SequenceNode) or not isinstance(data, list):
            raise ValuesEditError(f"{where}: {parent} is not a list, so {here} does not resolve")
        if isinstance(step, Index):
            if step.index >= len(node.value):
                raise ValuesEditError(
                    f"{where}: {here}: index {step.index} is out of range ({parent} has {len(node.value)} items)"
                )
            at = step.index
        else:
            at = _select(node, step, here, parent, where)
        node, data = node.value[at], data[at]
        concrete.append(at)
    if not isinstance(node, ScalarNode):
        shape = "a mapping" if isinstance(node, MappingNode) else "a list"
        raise ValuesEditError(f"{where}: {format_path(steps)} is {shape}, not a scalar value")
    return node, concrete


def _select(node: Any, step: Match, here: str, parent: str, where: str) -> int:
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    def field(item: Any) -> str | None:
        if not isinstance(item, MappingNode):
            return None
        vals = [v for k, v in item.value if isinstance(k, ScalarNode) and k.value == step.field]
        return vals[0].value if len(vals) == 1 and isinstance(vals[0], ScalarNode) else None

    values = [field(item) for item in node.value]
    hits = [i for i, v in enumerate(values) if v == step.value]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        seen = ", ".join(sorted({v for v in values if v is not None}))[:300] or "none"
        raise ValuesEditError(
            f"{where}: {here}: no item of {parent} has {step.field}={step.value} ({step.field} values: {seen})"
        )
    raise ValuesEditError(f"{where}: {here}: {len(hits)} items of {parent} match: refusing to guess")


def _render(value: str, style: str | None) -> str:
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(value, ensure_ascii=False)
    return value


def _plain_is_string(value: str) -> bool:
    """Whether ``value`` written plain reads back as that string under YAML 1.1 and 1.2 loaders alike.

    Flow indicators (``,[]{}``) would end a plain scalar inside a flow collection: always quoted.
    """
    if any(c in value for c in ",[]{}"):
        return False
    doc = f"k: {value}\n"
    try:
        return bool(yaml.safe_load(doc) == {"k": value} and _yaml("safe").load(doc) == {"k": value})
    except Exception:  # any parse error: quote it
        return False


def _unshared(data: Any) -> Any:
    """A deep copy in which no two places share a container (unlike ``copy.deepcopy``)."""
    if isinstance(data, dict):
        return {k: _unshared(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_unshared(v) for v in data]
    return data


def _set(data: Any, keys: list[Any], value: Any) -> None:
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


def _get(data: Any, keys: list[Any]) -> Any:
    for key in keys:
        data = data[key]
    return data


def edit_scalar(text: str, loc: Location, value: str, where: str) -> Change:
    """Set the scalar at ``loc`` to ``value`` (for image targets: its tag or digest), keeping every other byte.

    Returns the new text with the old and new scalar; the text is unchanged when it already holds the
    value. Raises :class:`ValuesEditError` (a :class:`TargetError`) when the edit is unsafe.
    """
    label = f"{where}: {format_path(loc.path)}"
    try:
        check_value(value, label)
    except TargetError as exc:
        raise ValuesEditError(str(exc)) from None
    nodes, data = _parse(text, where)
    doc = _document(nodes, data, loc, where)
    node, keys = _walk(nodes[doc], data[doc], loc, where)
    if node.anchor is not None:
        raise ValuesEditError(
            f"{label} carries anchor &{node.anchor}, shared with its aliases: edit it by hand"
        )
    if node.style not in (None, "'", '"'):
        raise ValuesEditError(f"{label} is a block scalar: edit it by hand")
    if node.style is None and node.value == "":
        raise ValuesEditError(f"{label} holds no value (an empty scalar): write a first value by hand")
    start, end = node.start_mark.index, node.end_mark.index
    if text[start:end] != _render(node.value, node.style):
        raise ValuesEditError(f"{label} is not written as a simple one-line scalar: edit it by hand")
    old = _get(data[doc], keys)
    if loc.image is not None:
        if not isinstance(old, str):
            raise ValuesEditError(f"{label} is not an image reference: {str(old)[:80]!r}")
        try:
            value = set_image_part(old, loc.image, value, label)
        except TargetError as exc:
            raise ValuesEditError(str(exc)) from None
    expected: Any = value
    if (
        isinstance(old, int)
        and not isinstance(old, bool)
        and value.isascii()
        and value.isdigit()
        and str(int(value)) == value
    ):
        expected = int(value)  # an integer stays an integer when the new value is one
    if old == expected and type(old) is type(expected):
        return Change(text, node.value, node.value)
    style = node.style
    if style is None and isinstance(expected, str) and not _plain_is_string(value):
        style = '"'  # plain, it would read as a number, a boolean, null or a date
    new_text = text[:start] + _render(value, style) + text[end:]
    try:
        after = list(_yaml("safe").load_all(new_text))
    except Exception as exc:  # a checked one-line value keeps the file valid; refuse if it did not
        raise ValuesEditError(f"{label}: the edit would produce invalid YAML ({_short(exc)})") from exc
    wanted = _unshared(data)  # aliases become copies: a change through a shared node shows as a diff
    _set(wanted[doc], keys, expected)
    if after != wanted:
        raise ValuesEditError(
            f"{label}: setting it would change other values too (an anchor or alias shares it): refusing the edit"
        )
    return Change(new_text, node.value, value)


def read_scalar(text: str, loc: Location, where: str = "file") -> str | None:
    """The value at ``loc`` as written (for image targets: the tag or digest); None when it does not resolve."""
    try:
        nodes, data = _parse(text, where)
        doc = _document(nodes, data, loc, where)
        node, _keys = _walk(nodes[doc], data[doc], loc, where)
    except ValuesEditError:
        return None
    value = str(node.value)
    return image_part(value, loc.image) if loc.image else value


# ---------------------------------------------------------------------------- the one-key shorthand
def set_value(text: str, key_path: str, version: str, where: str = "values file") -> str:
    """``text`` with the scalar at ``key_path`` set to ``version`` (see :func:`edit_scalar`)."""
    return edit_scalar(text, Location.of(key_path), version, where).text


def version_editor(key_path: str, version: str, where: str = "values file") -> Callable[[str], str]:
    """The pure edit the GitOps backends apply: ``text -> text`` with ``key_path`` set to ``version``."""
    return lambda text: set_value(text, key_path, version, where)


def read_value(text: str, key_path: str) -> str | None:
    """The value at ``key_path`` as a string (None when missing)."""
    return read_scalar(text, Location.of(key_path))
