"""Validation of names that end up in file paths, branch names, Kubernetes labels and keys."""

from __future__ import annotations

import re

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^[0-9A-Za-z](?:[0-9A-Za-z._-]{0,62})$")
_CANONICAL = re.compile(r"[1-9][0-9]{0,17}")


class InvalidNameError(ValueError):
    """A model, environment or version name that could escape a path or break a branch name."""


def check_name(value: str, what: str = "name") -> str:
    """Return ``value`` when it is a safe DNS-label-like name (lowercase, digits, ``.``, ``_``, ``-``).

    Rejects path separators, ``..``, leading dots or dashes, whitespace, control characters and
    anything longer than 63 characters, so the name is safe as a path segment, a git ref component
    and a Kubernetes label value.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value or value.endswith(".lock"):
        raise InvalidNameError(f"invalid {what} {value!r}: use lowercase letters, digits, '.', '_', '-'")
    return value


def check_version(value: str) -> str:
    """Return ``value`` when it is a safe model version (MLflow versions are integers; tags allowed)."""
    if (
        not isinstance(value, str)
        or not _VERSION.fullmatch(value)
        or ".." in value
        or value.endswith(".lock")
    ):
        raise InvalidNameError(f"invalid version {value!r}")
    return value


def canonical_version(value: object) -> str:
    """The canonical form of an MLflow model version: a positive integer without sign, zeros or spaces.

    MLflow numbers registered versions 1, 2, 3, … and sends them as strings. Every blocklist, pause and
    ordering check takes the canonical form, so ``"012"``, ``"+3"``, ``" 3"``, ``"3.0"``, ``"0"`` or
    ``True`` can never slip past a check of ``12`` or ``3``: they are rejected, not guessed at.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _CANONICAL.fullmatch(value):
        shown = repr(value)[:40]
        raise InvalidNameError(f"invalid version {shown}: MLflow model versions are positive integers")
    return value


def version_number(value: object) -> int:
    """The canonical version as an integer, for ordering (raises InvalidNameError like canonical_version)."""
    return int(canonical_version(value))


def is_newer(a: object, b: object) -> bool:
    """Whether MLflow version ``a`` is newer than ``b``, by number (InvalidNameError for a non-version)."""
    return version_number(a) > version_number(b)
