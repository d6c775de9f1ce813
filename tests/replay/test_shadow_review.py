"""Review of issue 16: shadow mode on one model must not touch another's notices."""

from __future__ import annotations

import json

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
