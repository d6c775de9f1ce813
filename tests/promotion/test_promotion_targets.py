"""Target paths, value templates, image references and the YAML editor on hostile input (pure)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from mlops_glue.adapters.values_yaml import Location, ValuesEditError, edit_scalar, read_scalar
from mlops_glue.targets import (
    Index,
    Key,
    Match,
    TargetError,
    format_path,
    parse_path,
    parse_template,
    set_image_part,
    split_image,
)


# ---------------------------------------------------------------------------------------------- paths
@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("model.version", (Key("model"), Key("version"))),
        (
            "spec.source.helm.parameters[name=model.version].value",
            (
                Key("spec"),
                Key("source"),
                Key("helm"),
                Key("parameters"),
                Match("name", "model.version"),
                Key("value"),
            ),
        ),
        (
            "images[name=models/fraud-detection].newTag",
            (Key("images"), Match("name", "models/fraud-detection"), Key("newTag")),
        ),
        ("spec.generators[0].list", (Key("spec"), Key("generators"), Index(0), Key("list"))),
        (
            'metadata.annotations."example.com/model"',
            (Key("metadata"), Key("annotations"), Key("example.com/model")),
        ),
        ("[2].x", (Index(2), Key("x"))),
        ("m[1][name=a]", (Key("m"), Index(1), Match("name", "a"))),
    ],
)
def test_paths_parse_and_print_back(text: str, steps: tuple[object, ...]) -> None:
    assert parse_path(text) == steps
    assert parse_path(format_path(parse_path(text))) == steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty target path"),
        ("a..b", "expected a key at 2"),
        ("a.", "ends with '.'"),
        ("a[", "is never closed"),
        ("a[x]", "neither an index"),
        ("a[-1]", "neither an index"),
        ("a[01]", "neither an index"),
        ("a[=v]", "invalid field name"),
        ("a[n=]", "the value to match is empty"),
        ("a[n= v]", "padded"),
        ('a."b', "never closed"),
        ("a]b", "unexpected ']'"),
        ("a" * 1001, "longer than 1000"),
        ("a .b", "surrounding spaces"),
    ],
)
def test_bad_paths_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message.replace("[", r"\[").replace(".", r"\.")):
        parse_path(text)


# ---------------------------------------------------------------------------------------------- templates
def test_templates_render_every_field_and_tags() -> None:
    t = parse_template("{model}:{env}:v{version}:{run_id}:{source}:{alias}:{tags.image_tag}:{{x}}")
    values = {
        "version": "4",
        "model": "m",
        "env": "prod",
        "run_id": "r1",
        "source": "s3://b/k",
        "alias": "champion",
    }
    assert t.render(values, {"image_tag": "abc"}, "here") == "m:prod:v4:r1:s3://b/k:champion:abc:{x}"
    assert t.tags == ("image_tag",)


@pytest.mark.parametrize(
    ("template", "tags", "message"),
    [
        ("{tags.image_tag}", {}, "tag 'image_tag' is not set"),
        ("{tags.image_tag}", {"image_tag": ""}, "tag 'image_tag' is not set"),
        ("{run_id}", {}, "{run_id} is not known"),
        ("{tags.t}", {"t": "a\nb: c"}, "control character"),
        ("{tags.t}", {"t": "x" * 600}, "at most 512"),
    ],
)
def test_rendering_never_writes_a_broken_value(template: str, tags: dict[str, str], message: str) -> None:
    with pytest.raises(TargetError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_template(template).render({"version": "4", "run_id": None}, tags, "m v4")


@pytest.mark.parametrize(
    ("template", "written", "version"),
    [
        ("{version}", "12", "12"),
        ("v{version}", "v12", "12"),
        ("v2.{version}.0", "v2.10.0", "10"),
        ("{model}-{version}", "fraud-detection-7", "7"),
        ("v{version}", "v2.3.1", None),
        ("{version}", "012", None),
        ("{tags.image_tag}", "abc", None),
        ("{version}", None, None),
    ],
)
def test_written_values_read_back_to_versions_only_when_unambiguous(
    template: str, written: str | None, version: str | None
) -> None:
    assert parse_template(template).version_in(written, "fraud-detection", "staging") == version


# ---------------------------------------------------------------------------------------------- images
@pytest.mark.parametrize(
    ("ref", "part", "value", "expected"),
    [
        ("registry.example.com:5000/models/m:v3", "tag", "v4", "registry.example.com:5000/models/m:v4"),
        ("models/m", "tag", "v4", "models/m:v4"),
        ("localhost:5000/m", "tag", "1", "localhost:5000/m:1"),
        ("m:v3", "digest", "sha256:" + "b" * 64, "m:v3@sha256:" + "b" * 64),
        ("m@sha256:" + "a" * 64, "digest", "@sha256:" + "b" * 64, "m@sha256:" + "b" * 64),
    ],
)
def test_image_edits_keep_the_repository_part(ref: str, part: str, value: str, expected: str) -> None:
    assert set_image_part(ref, part, value, "x") == expected  # type: ignore[arg-type]
    assert split_image(expected).repository == split_image(ref).repository


@pytest.mark.parametrize(
    ("ref", "part", "value", "message"),
    [
        ("m:v3@sha256:" + "a" * 64, "tag", "v4", "pinned by digest"),
        ("m:v3", "tag", "v 4", "not a valid image tag"),
        ("m:v3", "tag", ":v4", "not a valid image tag"),
        ("m:v3", "digest", "sha256:xyz", "not an image digest"),
        ("m:v3 extra", "tag", "v4", "not an image reference"),
        ("m@md5:abc", "tag", "v4", "not sha256"),
    ],
)
def test_bad_image_edits_are_refused(ref: str, part: str, value: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        set_image_part(ref, part, value, "x")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- the editor
@pytest.mark.parametrize(
    "value", ["012", "1e3", "true", "yes", "null", "~", "0x1f", "2026-12-01", "1_000", "4", ".inf"]
)
def test_a_value_whose_yaml_type_would_change_is_written_quoted(value: str) -> None:
    text = "model:\n  version: v3  # tag\n"
    out = edit_scalar(text, Location.of("model.version"), value, "values.yaml").text
    assert out == f'model:\n  version: "{value}"  # tag\n'
    assert yaml.safe_load(out)["model"]["version"] == value


def test_an_integer_stays_an_integer_and_single_quotes_stay_single() -> None:
    assert edit_scalar("v: 3\n", Location.of("v"), "4", "f").text == "v: 4\n"
    assert edit_scalar("v: 'a'\n", Location.of("v"), "it's", "f").text == "v: 'it''s'\n"
    assert edit_scalar('v: "a"\n', Location.of("v"), 'say "x"', "f").text == 'v: "say \\"x\\""\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("x" * (2 * 1024 * 1024 + 1), "larger than 2 MiB"),
        ("model:\n  version: !!binary aGVsbG8=\n", "not written as a simple"),
        ("model:\n  version: !custom 3\n", "not valid YAML: could not determine a constructor"),
        ("model:\n  version: |\n    3\n", "block scalar"),
        ("model:\n  version: 3\n  version: 4\n", "not valid YAML|appears more than once"),
        ("base: &b {version: 3}\nmodel:\n  <<: *b\n", "merge key"),
        ("model:\n  version: 'multi\n    line'\n", "simple one-line scalar"),
    ],
)
def test_hostile_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValuesEditError, match=message):
        edit_scalar(text, Location.of("model.version"), "4", "values.yaml")


def test_a_bom_and_crlf_survive() -> None:
    text = "\ufeffmodel:\r\n  version: 3\r\n"
    assert (
        edit_scalar(text, Location.of("model.version"), "4", "f").text == "\ufeffmodel:\r\n  version: 4\r\n"
    )


def test_reading_a_target_that_does_not_resolve_gives_none() -> None:
    assert read_scalar("a: 1\n", Location.of("b")) is None
    assert read_scalar("a: [\n", Location.of("a")) is None
    assert read_scalar("a: registry/m:v3\n", Location.of("a", image="tag")) == "v3"


@given(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff\x85"
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(["", "'", '"']),
)
def test_any_printable_value_round_trips_and_changes_only_its_line(value: str, quote: str) -> None:
    text = f"# head\nmodel:\n  name: m  # keep\n  version: {quote}v3{quote}  # tag\nother: [1, 2]\n"
    try:
        out = edit_scalar(text, Location.of("model.version"), value, "f").text
    except ValuesEditError:
        return  # refused with a reason is fine; writing something else is not
    assert yaml.safe_load(out) == {"model": {"name": "m", "version": value}, "other": [1, 2]}
    changed = [b for a, b in zip(text.splitlines(), out.splitlines(), strict=True) if a != b]
    assert len(changed) <= 1
