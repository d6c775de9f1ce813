"""Edit one scalar of a Helm values file and keep every other byte: comments, anchors, order, quoting.

Why not ``ruamel.yaml``'s load → set → dump: a round-trip dump still normalises indentation, spacing in
flow mappings and line widths, and write-back that reformats YAML is the top complaint about GitOps
bots. So ruamel.yaml's round-trip composer locates the target scalar (its exact start/end offsets and
its quoting style), only those characters are replaced, and the result is parsed again with ruamel.yaml
and compared with the original: the data must equal the original with only the target value changed.
Anything else (the key is missing or inherited through a merge key, the value is an alias, an anchor
shared with other keys, a block scalar, several documents) is refused with :class:`ValuesEditError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops_glue.names import check_version


class ValuesEditError(ValueError):
    """The values file cannot be edited safely; the message says why and where."""


def _yaml(typ: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ=typ, pure=True)


def _find_scalar(root: Any, keys: list[str], where: str) -> Any:
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    node = root
    for depth, key in enumerate(keys):
        here = ".".join(keys[: depth + 1])
        if not isinstance(node, MappingNode):
            raise ValuesEditError(f"{where}: {'.'.join(keys[:depth]) or 'the document'} is not a mapping")
        match = [v for k, v in node.value if isinstance(k, ScalarNode) and k.value == key]
        if not match:
            merged = any(isinstance(k, ScalarNode) and str(k.tag).endswith(":merge") for k, _ in node.value)
            hint = " (it may come from a '<<' merge key: set it explicitly in this mapping)" if merged else ""
            raise ValuesEditError(f"{where}: key {here} not found{hint}")
        if len(match) > 1:
            raise ValuesEditError(f"{where}: key {here} appears more than once")
        node = match[0]
    if not isinstance(node, ScalarNode):
        raise ValuesEditError(f"{where}: {'.'.join(keys)} is not a scalar value")
    return node


def _render(value: str, style: str | None) -> str:
    if style == "'":
        return f"'{value}'"
    if style == '"':
        return f'"{value}"'
    return value


def _unshared(data: Any) -> Any:
    """A deep copy in which no two places share a container (unlike ``copy.deepcopy``)."""
    if isinstance(data, dict):
        return {k: _unshared(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_unshared(v) for v in data]
    return data


def _set_path(data: Any, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


def _get_path(data: Any, keys: list[str]) -> Any:
    for key in keys:
        data = data[key]
    return data


def set_value(text: str, key_path: str, version: str, where: str = "values file") -> str:
    """Return ``text`` with the scalar at ``key_path`` (dotted, e.g. ``model.version``) set to ``version``.

    The text is returned unchanged when it already holds ``version``. Raises :class:`ValuesEditError`
    when the edit would change anything but that one value.
    """
    from ruamel.yaml.error import YAMLError

    check_version(version)
    keys = key_path.split(".")
    if not all(keys):
        raise ValuesEditError(f"invalid key path {key_path!r}")
    try:
        nodes = list(_yaml("rt").compose_all(text))
        before = _yaml("safe").load(text) if len(nodes) == 1 else None
    except YAMLError as exc:
        raise ValuesEditError(f"{where} is not valid YAML: {exc}") from exc
    if len(nodes) != 1:
        raise ValuesEditError(f"{where}: expected one YAML document, found {len(nodes)}")
    node = _find_scalar(nodes[0], keys, where)
    if node.anchor is not None:
        raise ValuesEditError(f"{where}: {key_path} carries anchor &{node.anchor}; edit it by hand")
    if node.style not in (None, "'", '"'):
        raise ValuesEditError(f"{where}: {key_path} is a block scalar; edit it by hand")
    old = _get_path(before, keys)
    if str(old) == version and node.value == version:
        return text
    # keep the value's type: an integer stays an integer when the new version is one
    expected: Any = (
        int(version) if isinstance(old, int) and not isinstance(old, bool) and version.isdigit() else version
    )
    style = node.style
    rendered = _render(version, style)
    start, end = node.start_mark.index, node.end_mark.index
    if text[start:end] != _render(node.value, style):
        raise ValuesEditError(f"{where}: {key_path} is not written as a simple scalar; edit it by hand")
    new_text = text[:start] + rendered + text[end:]
    try:
        after = _yaml("safe").load(new_text)
    except YAMLError as exc:  # pragma: no cover - a one-scalar change of a checked version stays valid
        raise ValuesEditError(f"{where}: the edit produced invalid YAML: {exc}") from exc
    if (
        style is None
        and after is not None
        and _get_path(after, keys) != expected
        and isinstance(expected, str)
    ):
        # a plain scalar that would now read as a number or a date: quote it to keep it a string
        new_text = text[:start] + _render(version, '"') + text[end:]
        after = _yaml("safe").load(new_text)
    wanted = _unshared(before)  # aliases become copies: a change through a shared node shows as a diff
    _set_path(wanted, keys, expected)
    if after != wanted:
        raise ValuesEditError(
            f"{where}: setting {key_path} would change other values too (an anchor or alias shares it); "
            "refusing the edit"
        )
    return new_text


def version_editor(key_path: str, version: str, where: str = "values file") -> Callable[[str], str]:
    """The pure edit the GitOps backends apply: ``text -> text`` with ``key_path`` set to ``version``."""
    return lambda text: set_value(text, key_path, version, where)


def read_value(text: str, key_path: str) -> str | None:
    """The value at ``key_path`` as a string (None when missing)."""
    data = _yaml("safe").load(text)
    try:
        value = _get_path(data, key_path.split("."))
    except (KeyError, TypeError):
        return None
    return None if value is None else str(value)
