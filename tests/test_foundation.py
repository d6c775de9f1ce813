"""Configuration, names, decision records and the state store (in memory and on DynamoDB via moto)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from mlops_glue.adapters.state import (
    ConflictError,
    DynamoStateStore,
    MemoryStateStore,
    StateError,
    StateStore,
)
from mlops_glue.config import ConfigError, parse_config, parse_duration
from mlops_glue.names import (
    InvalidNameError,
    canonical_version,
    check_name,
    check_version,
    is_newer,
    version_number,
)
from mlops_glue.records import Decision, Kind, Outcome, make_decision_id

CONFIG = """
models:
  fraud-detection:
    data: {bucket: ml-data, prefix: fraud/incoming/, reference_profile: s3://ml-data/fraud/ref.json}
    retrain: {min_new_rows: 100, max_wait: 7d, cooldown: 6h}
  fraud-detection-eu:
    data: {bucket: ml-data, prefix: fraud/incoming/eu/, reference_profile: s3://ml-data/fraud/ref.json}
gitops: {repo: company/ml-deployments}
"""


def test_config_parses_durations_and_routes_by_longest_prefix() -> None:
    cfg = parse_config(CONFIG)
    assert cfg.model("fraud-detection").retrain.max_wait == timedelta(days=7)
    assert cfg.model("fraud-detection").retrain.cooldown == timedelta(hours=6)
    assert cfg.model_for_object("ml-data", "fraud/incoming/eu/a.parquet") == "fraud-detection-eu"
    assert cfg.model_for_object("ml-data", "fraud/incoming/a.parquet") == "fraud-detection"
    assert cfg.model_for_object("other", "fraud/incoming/a.parquet") is None
    assert cfg.values_file("fraud-detection", "staging") == "models/fraud-detection/values-staging.yaml"


def test_config_hash_is_stable_and_changes_with_content() -> None:
    a, b = parse_config(CONFIG), parse_config(CONFIG)
    assert a.hash() == b.hash()
    assert parse_config(CONFIG.replace("100", "101")).hash() != a.hash()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            CONFIG.replace("min_new_rows: 100", "min_new_rows: -1"),
            "models.fraud-detection.retrain.min_new_rows",
        ),
        (CONFIG.replace("max_wait: 7d", "max_wait: soon"), "models.fraud-detection.retrain.max_wait"),
        (CONFIG.replace("cooldown: 6h", "cooldwn: 6h"), "models.fraud-detection.retrain.cooldwn"),
        (CONFIG.replace("fraud-detection-eu:", "../etc:"), "models"),
        ("- just a list", "top level"),
        ("models: {a: [unclosed", "invalid YAML"),
    ],
)
def test_invalid_config_names_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, origin="glue.yaml")
    assert field in str(err.value)
    assert "glue.yaml" in str(err.value)


def test_durations() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration(90) == timedelta(seconds=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("7 days")


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "A", "x" * 64, "-x", "x.lock", "a..b", "a b", "a\nb"])
def test_names_reject_path_and_ref_tricks(bad: str) -> None:
    with pytest.raises(InvalidNameError):
        check_name(bad)


def test_versions() -> None:
    assert check_version("12") == "12"
    for bad in ["../1", "1/2", "", "1 2", "~1", "1..2"]:
        with pytest.raises(InvalidNameError):
            check_version(bad)


@pytest.mark.parametrize("good", ["1", "12", "999999999999999999", 7])
def test_canonical_versions_accept_mlflow_numbers(good: object) -> None:
    assert canonical_version(good) == str(good)
    assert version_number(good) == int(str(good))


@pytest.mark.parametrize(
    "bad",
    ["012", "+3", " 3", "3 ", "3.0", "0", "-1", "", "abc", "v3", "1e3", "0x1f", True, None, 3.0, "1" * 19],
)
def test_canonical_versions_reject_lookalikes(bad: object) -> None:
    with pytest.raises(InvalidNameError, match="positive integers"):
        canonical_version(bad)
    with pytest.raises(InvalidNameError, match="positive integers"):
        is_newer(bad, "1")


def test_versions_compare_by_number_not_text() -> None:
    assert is_newer("10", "9") and not is_newer("9", "10") and not is_newer("3", "3")


class _Unreachable:
    """A DynamoDB client whose every call fails the way botocore does."""

    def __getattr__(self, name: str) -> Any:
        from botocore.exceptions import EndpointConnectionError

        def fail(**_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")

        return fail


def test_reading_decisions_wraps_the_library_error() -> None:
    # before: get_decision and decisions_for let botocore's error through (the only unwrapped calls)
    store = DynamoStateStore("mlops-glue-state-dev", client=_Unreachable())
    with pytest.raises(StateError, match="get decision d-1 failed: Could not connect"):
        store.get_decision("d-1")
    with pytest.raises(StateError, match="query decisions of fraud-detection failed: Could not connect"):
        store.decisions_for("fraud-detection")


def test_decision_id_is_stable_and_distinct() -> None:
    assert make_decision_id("retrain", "a", "b") == make_decision_id("retrain", "a", "b")
    assert make_decision_id("retrain", "a", "b") != make_decision_id("retrain", "ab")
    assert len(make_decision_id("x")) == 22


def _stores(stack: dict[str, str], aws: Any) -> list[StateStore]:
    return [MemoryStateStore(), DynamoStateStore(stack["StateTable"], aws.client("dynamodb"))]


def test_state_store_optimistic_concurrency(stack: dict[str, str], aws: Any) -> None:
    for store in _stores(stack, aws):
        v1 = store.put("W#m", "#", {"rows": 1}, None)
        with pytest.raises(ConflictError):
            store.put("W#m", "#", {"rows": 2}, None)
        v2 = store.put("W#m", "#", {"rows": 2}, v1)
        with pytest.raises(ConflictError):
            store.put("W#m", "#", {"rows": 3}, v1)
        got = store.get("W#m")
        assert got is not None and got.data == {"rows": 2} and got.version == v2


def test_update_never_loses_an_increment_under_threads() -> None:
    # moto's in-process DynamoDB does not make a conditional put atomic across threads, so the
    # threaded race runs on the memory store; the DynamoDB store's side of it is the next test
    store = MemoryStateStore()

    def bump(doc: dict[str, Any] | None) -> dict[str, Any]:
        return {"n": (doc or {"n": 0})["n"] + 1}

    def worker() -> None:
        for _ in range(25):
            store.update("COUNTER", "#", bump)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = store.get("COUNTER")
    assert got is not None and got.data["n"] == 100


def _lose_one_race(store: StateStore) -> list[int]:
    """update() whose first attempt is overtaken by another writer; returns what each attempt read."""
    store.put("RACE", "#", {"n": 0}, None)
    calls: list[int] = []

    def bump(doc: dict[str, Any] | None) -> dict[str, Any]:
        calls.append((doc or {})["n"])
        if len(calls) == 1:  # another writer lands between our read and our conditional write
            cur = store.get("RACE")
            assert cur is not None
            store.put("RACE", "#", {"n": cur.data["n"] + 10}, cur.version)
        return {"n": (doc or {"n": 0})["n"] + 1}

    store.update("RACE", "#", bump)
    return calls


def test_update_retries_after_losing_a_race(stack: dict[str, str], aws: Any) -> None:
    for store in _stores(stack, aws):
        calls = _lose_one_race(store)
        got = store.get("RACE")
        assert calls == [0, 10]  # the first attempt lost the race and was recomputed on fresh data
        assert got is not None and got.data == {"n": 11} and got.version == 3


def test_decision_log_by_model_newest_first(stack: dict[str, str], aws: Any) -> None:
    for store in _stores(stack, aws):
        from datetime import UTC, datetime

        for i in range(3):
            store.record_decision(
                Decision(
                    decision_id=f"d-{i}",
                    model="m",
                    kind=Kind.RETRAIN,
                    outcome=Outcome.DEFERRED,
                    reasons=[f"reason {i}"],
                    created_at=datetime(2026, 1, 1 + i, tzinfo=UTC),
                )
            )
        store.record_decision(
            Decision(decision_id="d-x", model="other", kind=Kind.PROMOTE, outcome=Outcome.ACTED)
        )
        got = store.decisions_for("m")
        assert [d.decision_id for d in got] == ["d-2", "d-1", "d-0"]
        one = store.get_decision("d-1")
        assert one is not None and one.reasons == ["reason 1"]


def test_idempotency_records_live_in_the_state_table_and_expire_with_its_ttl(
    stack: dict[str, str], aws: Any
) -> None:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from mlops_glue.adapters.state import idempotency_layer

    ddb = aws.client("dynamodb")
    ttl = ddb.describe_time_to_live(TableName=stack["StateTable"])["TimeToLiveDescription"]
    layer = idempotency_layer(stack["StateTable"], static_pk="idempotency#test", client=ddb)
    calls: list[str] = []

    @idempotent_function(data_keyword_argument="event", persistence_store=layer, config=IdempotencyConfig())
    def act(event: dict[str, str]) -> str:
        calls.append(event["id"])
        return "done"

    assert act(event={"id": "e-1"}) == "done" and act(event={"id": "e-1"}) == "done"
    assert calls == ["e-1"]  # the replay did not act again
    items = ddb.scan(TableName=stack["StateTable"])["Items"]
    records = [i for i in items if i["pk"]["S"] == "idempotency#test"]
    assert len(records) == 1
    assert ttl["AttributeName"] in records[0]  # the table's TTL attribute: the record expires


def test_one_claim_per_action_until_done_and_a_stale_one_is_taken_over() -> None:
    from datetime import UTC, datetime

    from mlops_glue.claims import claim, claim_status, release

    store, key, ttl = MemoryStateStore(), ("CLAIM#d-1", "#"), timedelta(minutes=5)
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert claim(store, key, ttl, t0) and claim_status(store, key) == "in_progress"
    assert not claim(store, key, ttl, t0 + timedelta(minutes=4))  # being done by someone else
    assert claim(store, key, ttl, t0 + timedelta(minutes=6))  # abandoned (a timed-out Lambda): taken over
    release(store, key, "failed", t0 + timedelta(minutes=7))
    assert claim(store, key, ttl, t0 + timedelta(minutes=8))  # a failure is open to the next delivery
    release(store, key, "done", t0 + timedelta(minutes=9))
    assert not claim(store, key, ttl, t0 + timedelta(days=30)) and claim_status(store, key) == "done"
