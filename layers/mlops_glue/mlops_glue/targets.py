"""What a promotion writes, and where: target paths, value templates and image references. Pure.

A *path* addresses one scalar in a YAML document, stepping through mappings by key and through lists by
index or by a matching field::

    model.version
    spec.source.helm.parameters[name=model.version].value
    spec.template.spec.containers[name=model].image
    spec.generators[0].list.elements[model=fraud-detection].version
    images[name=models/fraud-detection].newTag
    metadata.annotations."example.com/model"        # a key with dots, quoted

A *value template* renders what is written from the registry's model version: ``{version}``,
``{model}``, ``{env}``, ``{run_id}``, ``{source}``, ``{alias}`` and ``{tags.NAME}``; ``{{``/``}}`` are
literal braces. An *image* target edits only the tag (or the ``@sha256:`` digest) of an image reference
and leaves its repository part byte-identical.

Why hand-written: JSONPath/yq libraries address values but do not give the source offsets our
byte-preserving editor needs, and their filter syntaxes differ from the selectors GitOps users write in
Argo CD and kustomize. The grammar here is small and every error names the offending segment.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

ImagePart = Literal["tag", "digest"]

_INDEX = re.compile(r"0|[1-9][0-9]{0,5}")
_FIELD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,252}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/ ]{0,249}")
FIELDS = ("version", "model", "env", "run_id", "source", "alias")
PER_VERSION = ("version", "run_id", "source")  # a template must vary with the version (or read a tag)
MAX_VALUE = 512


class TargetError(ValueError):
    """A target cannot be parsed, rendered or applied; the message names the file, path and segment."""


def check_repo_path(path: str) -> str:
    """Return ``path`` when it is a relative path inside the repository (no ``..``, no absolute path)."""
    p = PurePosixPath(path) if isinstance(path, str) else None
    if p is None or not path or p.is_absolute() or ".." in p.parts or "\\" in path or path.startswith("-"):
        raise TargetError(f"refusing path {path!r}: it must stay inside the repository")
    if any(not c.isprintable() for c in path) or len(path) > 1024:
        raise TargetError(f"refusing path {path[:80]!r}: control characters or too long")
    return str(p)


# ---------------------------------------------------------------------------- paths
@dataclass(frozen=True)
class Key:
    name: str

    def __str__(self) -> str:
        return _quote_key(self.name)


@dataclass(frozen=True)
class Index:
    index: int

    def __str__(self) -> str:
        return f"[{self.index}]"


@dataclass(frozen=True)
class Match:
    """The one list item (a mapping) whose ``field`` holds ``value``."""

    field: str
    value: str

    def __str__(self) -> str:
        return f"[{self.field}={self.value}]"


Step = Key | Index | Match


def _quote_key(name: str) -> str:
    if name and not re.search(r"[.\[\]\"' ]", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_path(steps: tuple[Step, ...]) -> str:
    """The path text of ``steps`` (the inverse of :func:`parse_path`)."""
    out = ""
    for step in steps:
        text = str(step)
        out += text if isinstance(step, Index | Match) or not out else "." + text
    return out


def parse_path(text: str) -> tuple[Step, ...]:
    """Parse a target path; TargetError names the position of the first thing that is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise TargetError("empty target path")
    if len(text) > 1000:
        raise TargetError("target path longer than 1000 characters")
    steps: list[Step] = []
    i, n = 0, len(text)
    expect_key = True  # at the start or after a '.'
    while i < n:
        c = text[i]
        if c == "[":
            end = text.find("]", i)
            if end < 0:
                raise TargetError(f"path {text!r}: '[' at {i} is never closed")
            steps.append(_selector(text, text[i + 1 : end], i))
            i = end + 1
            expect_key = False
        elif c == "." and not expect_key:
            i += 1
            expect_key = True
            if i == n:
                raise TargetError(f"path {text!r} ends with '.'")
        elif expect_key and c in "\"'":
            name, i = _quoted(text, i)
            steps.append(Key(name))
            expect_key = False
        elif expect_key:
            m = re.compile(r"[^.\[\]\"']+").match(text, i)
            if m is None:
                raise TargetError(f"path {text!r}: expected a key at {i}")
            name = m.group(0)
            if name != name.strip():
                raise TargetError(f"path {text!r}: key {name!r} has surrounding spaces")
            steps.append(Key(name))
            i = m.end()
            expect_key = False
        else:
            raise TargetError(f"path {text!r}: unexpected {c!r} at {i} (use '.' between keys)")
    if expect_key:
        raise TargetError(f"path {text!r}: expected a key after the last '.'")
    return tuple(steps)


def _quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out, i = [], start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and quote == '"' and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            if not out:
                raise TargetError(f"path {text!r}: empty quoted key at {start}")
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise TargetError(f"path {text!r}: quote at {start} is never closed")


def _selector(path: str, inner: str, at: int) -> Step:
    if _INDEX.fullmatch(inner):
        return Index(int(inner))
    field, eq, value = inner.partition("=")
    if not eq:
        raise TargetError(
            f"path {path!r}: [{inner}] at {at} is neither an index like [0] nor a selector like [name=model]"
        )
    if not _FIELD.fullmatch(field):
        raise TargetError(f"path {path!r}: [{inner}] at {at}: invalid field name {field!r}")
    if not value or value != value.strip():
        raise TargetError(f"path {path!r}: [{inner}] at {at}: the value to match is empty or padded")
    return Match(field, value)


# ---------------------------------------------------------------------------- value templates
@dataclass(frozen=True)
class ValueTemplate:
    """A checked value template (see the module docstring)."""

    text: str
    fields: tuple[str, ...]  # e.g. ("version", "tags.image_tag")

    @property
    def tags(self) -> tuple[str, ...]:
        """The registry tags the template reads."""
        return tuple(f.removeprefix("tags.") for f in self.fields if f.startswith("tags."))

    def render(self, values: Mapping[str, str | None], tags: Mapping[str, str], what: str) -> str:
        """The value for one model version; TargetError names what is missing (nothing is guessed)."""
        out = []
        for literal, field, _spec, _conv in string.Formatter().parse(self.text):
            out.append(literal)
            if field is None:
                continue
            if field.startswith("tags."):
                name = field.removeprefix("tags.")
                got: str | None = tags.get(name)
                if got is None or got == "":
                    raise TargetError(f"{what}: tag {name!r} is not set, and the value template needs it")
            else:
                got = values.get(field)
                if got is None or got == "":
                    raise TargetError(f"{what}: {{{field}}} is not known, and the value template needs it")
            out.append(str(got))
        value = "".join(out)
        check_value(value, what)
        return value

    def version_pattern(self) -> re.Pattern[str] | None:
        """A regex that reads the version back from a written value, when nothing else varies.

        ``v{version}`` → ``v([1-9][0-9]*)``; None for templates with tags, run ids, sources or aliases,
        whose written values cannot be mapped back to a version.
        """
        parts = []
        seen = False
        for literal, field, _spec, _conv in string.Formatter().parse(self.text):
            parts.append(re.escape(literal))
            if field is None:
                continue
            if field != "version":
                return None
            parts.append("(?P<v>[1-9][0-9]{0,17})" if not seen else "(?P=v)")
            seen = True
        return re.compile("".join(parts)) if seen else None

    def version_in(self, written: str | None, model: str, env: str) -> str | None:
        """The version a written value holds by this template (None when it cannot tell)."""
        if written is None:
            return None
        text = self.text.replace("{model}", model.replace("{", "{{")).replace("{env}", env)
        pattern = ValueTemplate(text, tuple(f for f in self.fields if f not in ("model", "env")))
        rx = pattern.version_pattern()
        m = rx.fullmatch(written) if rx is not None else None
        return m.group("v") if m else None


def parse_template(text: str) -> ValueTemplate:
    """Check a value template; TargetError names an unknown placeholder or a format spec."""
    if not isinstance(text, str) or not text:
        raise TargetError("empty value template")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TargetError(f"value template {text!r}: {exc}") from None
    fields: list[str] = []
    for _literal, field, spec, conv in parsed:
        if field is None:
            continue
        if spec or conv:
            raise TargetError(f"value template {text!r}: {{{field}}} takes no format spec or conversion")
        if field.startswith("tags."):
            if not _TAG_NAME.fullmatch(field.removeprefix("tags.")):
                raise TargetError(f"value template {text!r}: invalid tag name in {{{field}}}")
        elif field not in FIELDS:
            known = ", ".join("{" + f + "}" for f in (*FIELDS, "tags.NAME"))
            raise TargetError(f"value template {text!r}: unknown placeholder {{{field}}} (known: {known})")
        fields.append(field)
    if not any(f in PER_VERSION or f.startswith("tags.") for f in fields):
        raise TargetError(
            f"value template {text!r} writes the same value for every version: "
            "use {version}, {run_id}, {source} or {tags.NAME}"
        )
    return ValueTemplate(text, tuple(fields))


def check_value(value: str, what: str) -> str:
    """A value we are willing to write into someone's YAML: one printable line, not too long."""
    if not value:
        raise TargetError(f"{what}: the rendered value is empty")
    if len(value) > MAX_VALUE:
        raise TargetError(f"{what}: the rendered value is {len(value)} characters (at most {MAX_VALUE})")
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise TargetError(f"{what}: the rendered value contains the control character {bad!r}")
    return value


# ---------------------------------------------------------------------------- image references
@dataclass(frozen=True)
class ImageRef:
    """An image reference split as ``repository[:tag][@digest]`` (the repository may hold a port)."""

    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        return (
            self.repository
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )


def split_image(ref: str) -> ImageRef:
    """Split an image reference; TargetError when it is not one."""
    name, at, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        repository, tag = name[:colon], name[colon + 1 :]
    else:
        repository, tag = name, None
    if not repository or (tag is not None and not _TAG.fullmatch(tag)) or re.search(r"\s", ref):
        raise TargetError(f"{ref!r} is not an image reference (repository[:tag][@sha256:digest])")
    if at and not _DIGEST.fullmatch(digest):
        raise TargetError(f"{ref!r} carries a digest that is not sha256:<64 hex>")
    return ImageRef(repository, tag, digest if at else None)


def set_image_part(current: str, part: ImagePart, value: str, what: str) -> str:
    """``current`` with only its tag (or digest) replaced: the repository part stays byte-identical."""
    ref = split_image(current)
    if part == "tag":
        if not _TAG.fullmatch(value):
            raise TargetError(f"{what}: {value!r} is not a valid image tag")
        if ref.digest:
            raise TargetError(
                f"{what}: {current!r} is pinned by digest, so a new tag would not deploy; "
                "set image: digest and a digest value (e.g. {tags.image_digest})"
            )
        return str(ImageRef(ref.repository, value, None))
    digest = value.removeprefix("@")
    if not _DIGEST.fullmatch(digest):
        raise TargetError(f"{what}: {value!r} is not an image digest (sha256:<64 hex>)")
    return str(ImageRef(ref.repository, ref.tag, digest))


def image_part(current: str, part: ImagePart) -> str | None:
    """The tag (or digest) of an image reference, or None when it has none / is not one."""
    try:
        ref = split_image(current)
    except TargetError:
        return None
    return ref.tag if part == "tag" else ref.digest
