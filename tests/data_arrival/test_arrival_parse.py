"""Parsing S3 events (EventBridge and plain notifications), key decoding and the per-object skip rules."""

from __future__ import annotations

import json

import pytest
from arrival_helpers import MODEL, make_config
from mlops_glue.services.data_arrival import EventError, ObjectRef, parse_message, skip_reason

from tests.conftest import load_event


def test_eventbridge_object_created_gives_one_object_with_version() -> None:
    (ref,) = parse_message(json.dumps(load_event("eventbridge_s3_object_created.json")), "m1")
    assert ref.bucket == "ml-data-dev"
    assert ref.key == "fraud/incoming/2026/11/23/part-0001.parquet"
    assert ref.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert (
        ref.uri
        == "s3://ml-data-dev/fraud/incoming/2026/11/23/part-0001.parquet?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    )


def test_key_with_plus_and_percent_encoding_is_decoded_as_s3_encodes_it() -> None:
    (ref,) = parse_message(load_event("eventbridge_s3_object_created_key_with_spaces.json"))
    assert ref.key == "fraud/incoming/2026/11/23/batch 2 été ✓.csv"


def test_plain_s3_notification_records_are_accepted() -> None:
    body = load_event("sqs_s3_notification_object_created.json")["Records"][0]["body"]
    (ref,) = parse_message(body, "m2")
    assert ref.key == "fraud/incoming/2026/11/23/direct upload.parquet"
    assert ref.version_id == "yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV"
    assert ref.event_id.startswith("m2#0")


def test_s3_test_event_is_no_object() -> None:
    assert parse_message(load_event("s3_test_event.json")) == []


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, "not JSON"),
        (1, "neither an EventBridge S3 event nor S3 Records"),
        (2, "malformed S3 event at detail.version: Field required"),
    ],
)
def test_malformed_bodies_fail_with_a_clear_message(index: int, expected: str) -> None:
    record = load_event("sqs_malformed.json")["Records"][index]
    with pytest.raises(EventError, match=expected) as err:
        parse_message(record["body"], record["messageId"])
    assert record["messageId"] in str(err.value)


def test_identity_uses_version_then_etag() -> None:
    a = ObjectRef("b", "k", "v1", "e1", 1, "x")
    assert a.oid == ObjectRef("b", "k", "v1", "other-etag", 1, "y").oid  # same version: same object
    assert a.oid != ObjectRef("b", "k", "v2", "e1", 1, "x").oid
    unversioned = ObjectRef("b", "k", None, "e1", 1, "x")
    assert unversioned.oid == ObjectRef("b", "k", None, "e1", 5, "z").oid
    assert unversioned.oid != ObjectRef("b", "k", None, "e2", 1, "x").oid


@pytest.mark.parametrize(
    ("key", "size", "reason"),
    [
        ("fraud/incoming/2026/11/24/", 0, "folder marker"),
        ("fraud/incoming/a.parquet", 0, "zero-byte object"),
        ("fraud/incoming/_SUCCESS", 0, "zero-byte object"),
        ("fraud/incoming/_SUCCESS", 12, "marker or hidden file '_SUCCESS'"),
        ("fraud/incoming/.part-1.parquet.crc", 12, "marker or hidden file"),
        ("fraud/incoming/README.md", 120, "unknown suffix"),
        ("fraud/incoming/a.parquet", 120, None),
        ("fraud/incoming/a.CSV.gz", 120, None),
    ],
)
def test_skip_rules(key: str, size: int, reason: str | None) -> None:
    got = skip_reason(ObjectRef("ml-data-dev", key, None, "e", size, "x"), make_config().model(MODEL))
    if reason is None:
        assert got is None
    else:
        assert got is not None and got.startswith(reason)
