"""Review of issue 16: shadow mode on one model must not touch another's notices."""

from __future__ import annotations

import json

import pytest
from mlops_glue import shadow
from mlops_glue.adapters.argo import MemorySubmitter, Submission
from mlops_glue.adapters.slack import MemoryNotifier, Message
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import parse_config


def composed() -> tuple[shadow.Adapters, MemorySubmitter, MemoryNotifier]:
    cfg = parse_config(json.dumps({"models": {"churn": {"shadow": True}, "churn-eu": {}}}))
    submitter, notifier = MemorySubmitter(), MemoryNotifier()
    a = shadow.wrap(cfg, "alarms", store=MemoryStateStore(), submitter=submitter, notifier=notifier)
    return a, submitter, notifier


def submission(model: str) -> Submission:
    return Submission("ml", "train", f"wf-{model}", {}, labels={shadow.MODEL_LABEL: model})


def test_a_live_models_notice_is_not_marked_because_a_shadow_models_name_is_in_it() -> None:
    a, submitter, notifier = composed()
    a.submitter.submit(submission("churn"))  # shadowed: not submitted; its notice is not posted
    a.submitter.submit(submission("churn-eu"))  # live: submitted
    a.notifier.post(Message(text="churn-eu: emergency retraining submitted"))

    assert sorted(submitter.submissions) == ["wf-churn-eu"]
    [posted] = notifier.messages
    assert not posted.text.startswith(shadow.NOTICE_MARK), posted.text


def test_the_shadow_models_own_notice_is_still_marked() -> None:
    a, _submitter, notifier = composed()
    a.submitter.submit(submission("churn"))
    a.notifier.post(Message(text="churn: emergency retraining submitted"))
    assert notifier.messages[0].text.startswith(shadow.NOTICE_MARK)


def test_a_recorded_webhook_keeps_what_the_rules_read_and_no_secret() -> None:
    from datetime import UTC, datetime

    from mlops_glue.logs import register_secret
    from mlops_glue.replay.recorder import LogRecorder, MemoryEventLog
    from mlops_glue.webhooks import WebhookEvent

    register_secret("s3cr3t-webhook-signing-key")
    slack = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"
    event = WebhookEvent.model_validate(
        {
            "entity": "model_version_tag",
            "action": "set",
            "timestamp": "2026-11-20T10:00:00+00:00",
            "data": {
                "name": "churn",
                "version": "3",
                "key": "note",
                "value": f"see {slack} or s3cr3t-webhook-signing-key",
                "source": "https://ci:ghp_abcdefghijklmnopqrstuvwx@git.example.com/m.tar",
                "tags": {"deploy_token": "xoxb-1234567890-abcdef"},
                "run_id": "r1",
            },
        }
    )
    log = MemoryEventLog()
    LogRecorder(log).webhook(event, "delivery-1", datetime(2026, 11, 20, 10, tzinfo=UTC))

    [recorded] = log.all()
    text = recorded.model_dump_json()
    for secret in (slack, "s3cr3t-webhook-signing-key", "ghp_abcdefghijklmnopqrstuvwx", "xoxb-1234567890"):
        assert secret not in text
    assert recorded.input["data"] == {
        "name": "churn",
        "version": "3",
        "key": "note",
        "value": "see [redacted] or [redacted]",
        "run_id": "r1",
    }


def test_credentials_in_a_recorded_url_are_removed() -> None:
    from mlops_glue.replay.recorder import scrubbed

    assert scrubbed({"u": ["s3://b/k", "https://user:pw@host/x"]}) == {
        "u": ["s3://b/k", "https://[redacted]@host/x"]
    }


def test_a_notification_the_recorder_cannot_shape_is_a_warning_never_the_flows_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from mlops_glue.replay.recorder import LogRecorder, MemoryEventLog

    n = SimpleNamespace(identity="argocd:app:on-deployed:abc", model_dump=lambda **_: {"app": "x"})
    odd = SimpleNamespace(path="p", synced=None, change=None, later=None)  # `later` is not iterable
    rec = LogRecorder(MemoryEventLog())
    with caplog.at_level("WARNING"):
        rec.notification(n, "churn", "staging", odd, None, datetime(2026, 11, 20, tzinfo=UTC))
        rec.alarm(
            SimpleNamespace(identity="a#1", state_timestamp=None),
            "churn",
            "dev",
            datetime(2026, 11, 20, tzinfo=UTC),
        )

    assert rec.failures == 2 and rec.log.all() == []  # type: ignore[attr-defined]
    assert [r.message for r in caplog.records].count("event not recorded for replay") == 2
