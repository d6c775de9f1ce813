"""Round-trip edit of a values file: every byte but the version."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_glue.adapters.values_yaml import ValuesEditError, read_value, set_value

ODD = """\
# top comment   (trailing spaces kept)\x20\x20\x20
base: &base
    replicas:   3      # odd indentation: four spaces
    image: {repository: "ghcr.io/acme/fraud",   tag: 'v1.2'}
model:
    name: "fraud-detection"
    version: '7'    # the bumped value; single-quoted
    labels:
      - &lab  team-a
      - *lab
    threshold: 0.85
serving:
    <<: *base
    extra: >-
      folded text
      kept as is
"""


def _diff(a: str, b: str) -> list[tuple[str, str]]:
    return [(x, y) for x, y in zip(a.splitlines(), b.splitlines(), strict=True) if x != y]


def test_odd_file_keeps_every_byte_but_the_version() -> None:
    out = set_value(ODD, "model.version", "8")
    assert out == ODD.replace("version: '7'", "version: '8'")
    assert read_value(out, "model.version") == "8"


@pytest.mark.parametrize(
    ("line", "new_line"),
    [
        ("  version: 3\n", "  version: 4\n"),  # plain integer stays an integer
        ('  version: "3"\n', '  version: "4"\n'),  # double quotes kept
        ("  version: '3'  # c\n", "  version: '4'  # c\n"),  # single quotes and comment kept
        ("  version: v3\n", "  version: v4\n"),  # plain string
        ("  version: v3\n", '  version: "4"\n'),  # would read as a number: quoted to stay a string
    ],
)
def test_scalar_styles(line: str, new_line: str) -> None:
    text = "model:\n  name: x\n" + line + "other: 1\n"
    new = new_line.split(":", 1)[1].strip().split()[0].strip("'\"")
    out = set_value(text, "model.version", new)
    assert out == "model:\n  name: x\n" + new_line + "other: 1\n"


def test_same_version_is_a_no_op() -> None:
    assert set_value(ODD, "model.version", "7") is ODD


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: {name: x}\n", "key model.version not found"),
        ("base: &b {version: 1}\nmodel:\n  <<: *b\n", "merge key"),
        ("v: &v 3\nmodel:\n  version: *v\n", "not a scalar|alias|anchor|not written"),
        ("model:\n  version: &v 3\ncopy: *v\n", "anchor"),
        ("model: &m {version: 1}\nother: *m\n", "would change other values"),
        ("model:\n  version: |\n    3\n", "block scalar"),
        ("model:\n  version: 1\n---\nmodel: {version: 2}\n", "holds 2 YAML documents: name the one to edit"),
        ("model: [1, 2]\n", "not a mapping"),
        ("model:\n  version: [1]\n", "not a scalar"),
        ("model: {version: 1\n", "not valid YAML"),
    ],
)
def test_unsafe_edits_are_refused_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ValuesEditError, match=message):
        set_value(text, "model.version", "2", where="models/x/values-staging.yaml")


def test_path_tricks_in_the_version_are_refused() -> None:
    with pytest.raises(ValuesEditError, match="control character"):
        set_value(ODD, "model.version", "8\nmalicious: true")


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "'", '"']))
def test_only_the_version_line_changes(version: int, quote: str) -> None:
    out = set_value(ODD.replace("'7'", f"{quote}7{quote}"), "model.version", str(version))
    changed = _diff(ODD.replace("'7'", f"{quote}7{quote}"), out)
    assert len(changed) <= 1
    assert read_value(out, "model.version") == str(version)
