"""Adversarial review of state-18 (typed documents, one claim, data-arrival offload).

Each test names a bug found by attacking the change; it fails on state-18 as reviewed and passes once the
bug is fixed. Fixtures of the data-arrival and alarm suites are reused (imported below).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data_arrival"))

from arrival_helpers import BUCKET, MODEL, PREFIX, parquet_bytes, put, sqs_event
from mlops_glue import runtime
from mlops_glue.adapters.argo import MemorySubmitter
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.claims import claim, claim_status, release
from mlops_glue.decisions.emergency import alarm_key
from mlops_glue.decisions.emergency import decision_id_for as emergency_decision_id
from mlops_glue.drift import build_profile
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import claim_key
from mlops_glue.services.alarm_events import changes_from_event
from mlops_glue.services.alarms import AlarmService

from glue_local.standins import ArgoStandin, SlackStandin
from tests.alarms.conftest import Clock, event
from tests.conftest import load_event
from tests.data_arrival.test_arrival_offload import (
    count_in,
    count_workflows,
    offload_failing_every_attempt,
    run_on_the_cluster,
)

QUALITY = "mlops-glue-dev-fraud-detection-quality"


def alerts(n: MemoryNotifier) -> list[Any]:
    return [m for m in n.messages if m.thread_ts is None and ":rotating_light:" in m.text]


# ------------------------------------------------------------------------------------------ claims


def test_a_stale_owner_releasing_failed_does_not_reopen_a_claim_its_successor_finished() -> None:
    """A holds the claim, stalls past the TTL; B takes it over, finishes (done). A then fails and
    releases "failed": the done claim is reopened and a third delivery does the action again."""
    s = MemoryStateStore()
    key = claim_key("d-1")
    ttl = timedelta(minutes=2)
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert claim(s, key, ttl, t0)  # A
    assert claim(s, key, ttl, t0 + ttl + timedelta(seconds=1))  # B takes over the abandoned claim
    release(s, key, "done", t0 + ttl + timedelta(seconds=5))  # B did it
    release(s, key, "failed", t0 + ttl + timedelta(seconds=6))  # A comes back and fails
    assert not claim(s, key, ttl, t0 + ttl + timedelta(seconds=7)), "a done action is done again"


def test_a_stale_owner_releasing_failed_does_not_end_its_successors_claim_in_progress() -> None:
    """A holds the claim, stalls past the TTL; B takes it over and is still at work. A then fails and
    releases "failed" with its token: B's claim stays in progress, so no third delivery starts the
    action beside B; B's own release ends it."""
    s = MemoryStateStore()
    key = claim_key("d-2")
    ttl = timedelta(minutes=2)
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    a = claim(s, key, ttl, t0)
    b = claim(s, key, ttl, t0 + ttl + timedelta(seconds=1))  # B takes over the abandoned claim
    assert a and b and a != b
    assert not release(s, key, "failed", t0 + ttl + timedelta(seconds=5), a)  # A comes back and fails
    assert claim_status(s, key) == "in_progress"
    assert claim(s, key, ttl, t0 + ttl + timedelta(seconds=6)) is None, "a third delivery started beside B"
    assert release(s, key, "done", t0 + ttl + timedelta(seconds=9), b)
    assert claim_status(s, key) == "done"
    assert release(s, key, "failed", t0 + ttl + timedelta(seconds=10)) is False  # done stays done


# ------------------------------------------------------------------------------------------ alarms


def test_a_transition_the_previous_release_handled_is_not_alerted_again_after_the_upgrade(
    make_service: Callable[..., AlarmService],
    store: MemoryStateStore,
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    clock: Clock,
) -> None:
    """The previous release deduplicated by the alarm document's ``seen`` list (no claim document). A
    redelivery (SNS retry, DLQ replay) of a transition it handled, arriving after the upgrade, pages the
    on-call a second time."""
    svc = make_service()
    ev = event("quality_alarm", "eventbridge")
    [first] = svc.handle_event(ev)
    assert len(alerts(notifier)) == 1
    # the state as the previous release left it: no claim document, the identity in ``seen``, the
    # notice recorded as posted under ``notices``
    [change] = changes_from_event(ev)
    did = emergency_decision_id(change)
    store._docs.pop(claim_key(did))  # the previous release wrote no claim documents
    got = store.get(*alarm_key(QUALITY))
    assert got is not None
    old = dict(got.data)
    old["seen"] = [change.identity]
    old["notices"] = {did: {"claimed_at": clock().isoformat(), "ts": old["alert"]["ts"]}}
    store.put(*alarm_key(QUALITY), old, got.version)

    clock.now += timedelta(minutes=1)
    [again] = make_service().handle_event(ev)
    assert again.decision.decision_id == first.decision.decision_id
    assert len(alerts(notifier)) == 1, [m.text for m in alerts(notifier)]


# ------------------------------------------------------------------------------------------ offload


def test_counts_made_against_a_replaced_reference_profile_are_counted_again_not_merged(
    deployed: dict[str, Any],
    argo: ArgoStandin,
    slack: SlackStandin,
    lambda_context: Any,
    tmp_path: Path,
) -> None:
    """The reference profile is replaced (a retraining's new reference) while the cluster counts an
    object against the old one. The sweep must not merge counts of another profile into the window:
    today it raises ValueError out of the sweep (every later model and the outbox skipped, every sweep),
    or a foreign segment lands in the window payload."""
    count_in(deployed, "argo")
    s3, app = deployed["s3"], deployed["app"]
    obj = put(s3, f"{PREFIX}big.parquet", parquet_bytes(make_table(400, seed=3)))
    assert app.handler(sqs_event([obj]), lambda_context) == {"batchItemFailures": []}
    [wf] = count_workflows(argo)
    assert run_on_the_cluster(argo, wf) == 0  # counted against the profile of the time
    # a new reference profile replaces the old one at the same URI
    other = tmp_path / "other-reference.parquet"
    other.write_bytes(parquet_bytes(make_table(2000, seed=77)))
    new_profile = build_profile(str(other))
    s3.put_object(Bucket=BUCKET, Key="fraud/reference/profile.json", Body=new_profile.to_json())
    runtime.reset()

    out = app.handler(load_event("scheduler_sweep.json"), lambda_context)
    assert out["offloads_collected"] == 0, out
    window = runtime.data_arrival().window(MODEL)["window"]
    assert window is None or window.get("rows", 0) == 0  # nothing of the old profile merged
    assert len(count_workflows(argo)) == 2  # counted again, against the current profile


def test_the_command_said_for_an_object_not_counted_is_a_valid_copy_object_call(
    deployed: dict[str, Any], argo: ArgoStandin, slack: SlackStandin, lambda_context: Any
) -> None:
    """The Slack notice tells the operator to run ``aws s3api copy-object … --version-id V`` with the key
    unquoted: copy-object has no ``--version-id`` (the version goes in ``--copy-source …?versionId=``), a
    key with a space or ``#`` breaks in a shell, and S3 refuses to copy an object onto itself without
    a metadata change. Checked against botocore's model of CopyObject and run on moto."""
    import boto3
    import botocore.session
    from botocore import xform_name

    obj, _ = offload_failing_every_attempt(deployed, argo, lambda_context, f"{PREFIX}big part #1?%.parquet")
    [notice] = [m for m in slack.messages if "could not be counted on the cluster" in m.text]
    command = notice.text.split("`")[1]
    for raw, plain in (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        command = command.replace(raw, plain)
    argv = shlex.split(command)
    assert argv[:3] == ["aws", "s3api", "copy-object"], argv
    shape = botocore.session.get_session().get_service_model("s3").operation_model("CopyObject").input_shape
    options = {xform_name(name, "-"): name for name in shape.members}
    params: dict[str, str] = {}
    rest = argv[3:]
    while rest:
        if "=" in rest[0]:
            (opt, value), rest = rest[0].split("=", 1), rest[1:]
        else:
            opt, value, rest = rest[0], rest[1], rest[2:]
            assert not value.startswith("-"), f"the AWS CLI reads {value!r} as an option, not {opt}'s value"
        assert opt.startswith("--") and opt[2:] in options, f"copy-object has no option {opt}"
        params[options[opt[2:]]] = value
    client = boto3.client("s3", region_name="eu-west-1")
    client.copy_object(**params)  # the operator's command: S3 accepts it
    versions = client.list_object_versions(Bucket=BUCKET, Prefix=obj["key"])["Versions"]
    assert len(versions) == 2  # a new version of that very object: a new "Object Created" event


def test_shadow_switched_on_while_the_cluster_counts_neither_fails_nor_loses_the_object(
    deployed: dict[str, Any], argo: ArgoStandin, slack: SlackStandin, lambda_context: Any
) -> None:
    """An object is being counted on the cluster when the model is put in shadow mode. The shadow submitter
    lists no running workflow and submits nothing, so each sweep "resubmits" (a fake) and the third gives
    up: a FAILED decision, a "could not be counted" notice, the offload dropped — while the real workflow
    still runs, and its counts are never collected once shadow mode is off again."""
    count_in(deployed, "argo")
    s3, app = deployed["s3"], deployed["app"]
    obj = put(s3, f"{PREFIX}big.parquet", parquet_bytes(make_table(400, seed=3)))
    assert app.handler(sqs_event([obj]), lambda_context) == {"batchItemFailures": []}
    [wf] = count_workflows(argo)  # submitted for real, Running

    import yaml

    def set_shadow(on: bool) -> None:
        doc = deployed["doc"]
        doc["models"][MODEL]["shadow"] = on
        deployed["config"].write_text(yaml.safe_dump(doc))
        runtime.reset()

    set_shadow(True)
    sweep = load_event("scheduler_sweep.json")
    for _ in range(4):
        app.handler(sweep, lambda_context)
    failed = [d for d in runtime.state_store().decisions_for(MODEL) if d.outcome.value == "failed"]
    assert failed == [], [d.reasons for d in failed]
    assert not [m for m in slack.messages if "could not be counted" in m.text]

    set_shadow(False)
    assert run_on_the_cluster(argo, wf) == 0  # the real workflow finishes
    assert app.handler(sweep, lambda_context)["offloads_collected"] == 1


def test_a_burst_of_large_objects_can_all_be_handed_to_the_cluster(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any
) -> None:
    """Every offload of a model lives in one DynamoDB item (``Offloads``), unbounded: with ``count_in:
    argo`` ("every object counted on the cluster") a day of 1,000 partitioned files passes DynamoDB's
    400 KB item limit. From then on each object's workflow is submitted, the offload write fails
    (StateError), the message is retried into the DLQ — and the counts that land are never collected."""
    from mlops_glue.services.arrival_events import ObjectRef

    count_in(deployed, "argo")
    svc = runtime.data_arrival()
    model_cfg = runtime.config().model(MODEL)
    why = "count_in: argo (every object counted on the cluster)"
    for i in range(1000):
        key = f"{PREFIX}year=2026/month=12/day=01/hour={i % 24:02d}/source=partner-feed-eu-west/part-{i:05d}-3f1c9a7e-5b2d-4c8e-9a1f-7d6e5c4b3a2f.c000.snappy.parquet"
        ref = ObjectRef(BUCKET, key, f"v{i:032d}", f"{i:032x}", 3 << 30, f"ev-{i}")
        result = svc.offloader.offload(MODEL, model_cfg, ref, why)
        assert result.status == "offloaded", (i, result)


@pytest.mark.parametrize("at", ["garbage", "", "2026-12-01T10:00:00"])
def test_a_claim_document_with_an_unreadable_time_is_a_state_error(at: str) -> None:
    """The repositories' contract: a stored document that does not validate raises StateError (and is
    never overwritten). A claim whose ``at`` is not an aware ISO time passed validation and then raised
    ValueError / TypeError from ``held``: the sweep catches StateError per model, so one such claim on a
    pending window's decision stopped the whole sweep (every other model, the outbox) on every run."""
    from mlops_glue.adapters.state import StateError

    s = MemoryStateStore()
    key = claim_key("d-garbage")
    s.put(*key, {"status": "in_progress", "at": at}, None)
    now = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    with pytest.raises(StateError):
        claim(s, key, timedelta(minutes=3), now)
    assert s.get(*key).data == {"status": "in_progress", "at": at}  # type: ignore[union-attr]
