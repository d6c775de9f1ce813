"""Operations: ``window show MODEL`` / ``window resubmit MODEL WINDOW_ID``, ``decisions list MODEL`` /
``decisions show ID``, ``dlq replay`` (data arrival, or ``--intake``: the MLflow / Argo CD webhook intake).

They read the deployed state table (``STATE_TABLE``) through the same adapters as the functions.
Exit codes: 0 ok, 1 nothing found, 2 error with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``window``, ``decisions`` and ``dlq`` command groups."""
    window = subparsers.add_parser("window", help="data-arrival windows")
    wsub = window.add_subparsers(dest="command", required=True)
    show = wsub.add_parser("show", help="a model's open window and its pending retrainings")
    show.add_argument("model")
    show.set_defaults(func=_window_show)
    again = wsub.add_parser(
        "resubmit", help="put a window Argo rejected (4xx) back in pending; the next sweep submits it"
    )
    again.add_argument("model")
    again.add_argument("window_id")
    again.set_defaults(func=_window_resubmit)

    decisions = subparsers.add_parser("decisions", help="the decision log ('why did this run?')")
    dsub = decisions.add_subparsers(dest="command", required=True)
    listing = dsub.add_parser("list", help="a model's latest decisions, newest first")
    listing.add_argument("model")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="full records as JSON lines")
    listing.set_defaults(func=_decisions_list)
    one = dsub.add_parser("show", help="one decision record")
    one.add_argument("decision_id")
    one.set_defaults(func=_decisions_show)
    from mlops_glue.cli.replay import add_export

    add_export(
        dsub.add_parser("export", help="recorded events and decisions of a period, as a file for replay")
    )

    dlq = subparsers.add_parser("dlq", help="dead-letter queues")
    qsub = dlq.add_subparsers(dest="command", required=True)
    replay = qsub.add_parser("replay", help="send dead-lettered messages back to their queue")
    replay.add_argument(
        "--dlq", help="URL of the dead-letter queue (stack output DataArrivalDLQUrl or WebhookIntakeDLQUrl)"
    )
    replay.add_argument(
        "--queue", help="URL of the queue (stack output DataArrivalQueueUrl or WebhookIntakeQueueUrl)"
    )
    replay.add_argument(
        "--intake",
        action="store_true",
        help="the webhook intake queues of --stage (MLflow and Argo CD deliveries), found by name",
    )
    replay.add_argument("--stage", default=None, help="with --intake: the stage (default: STAGE or dev)")
    replay.add_argument("--max", type=int, default=1000, help="most messages to move")
    replay.add_argument("--dry-run", action="store_true", help="only list what would be replayed")
    replay.set_defaults(func=_dlq_replay)


def _fail(exc: BaseException) -> int:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"mlops-glue: {reason}", file=sys.stderr)
    return 2


def _window_show(args: argparse.Namespace) -> int:
    from mlops_glue import runtime
    from mlops_glue.names import check_name
    from mlops_glue.services.arrival_window import window_view

    try:
        model = check_name(args.model, "model name")
        view = window_view(runtime.state_store(), model)
    except Exception as exc:
        return _fail(exc)
    if view is None:
        print(f"no window for {model}", file=sys.stderr)
        return 1
    print(json.dumps({"model": model, "version": view["version"], **view["window"]}, indent=2, default=str))
    return 0


def _window_resubmit(args: argparse.Namespace) -> int:
    from mlops_glue import runtime
    from mlops_glue.names import check_name
    from mlops_glue.services.arrival_window import requeue_rejected

    try:
        model = check_name(args.model, "model name")
        try:
            entry = requeue_rejected(runtime.state_store(), model, args.window_id)
        except KeyError:
            if not runtime.settings().data_bucket:
                raise
            entry = runtime.data_arrival().requeue(model, args.window_id)  # archived to S3 (> 100 rejected)
    except KeyError as exc:
        print(f"mlops-glue: {exc.args[0]}", file=sys.stderr)
        return 1
    except Exception as exc:
        return _fail(exc)
    print(f"{model} {entry.window_id} is pending again ({entry.decision_id}); the next sweep submits it")
    return 0


def _decisions_list(args: argparse.Namespace) -> int:
    from mlops_glue import runtime
    from mlops_glue.names import check_name

    try:
        found = runtime.state_store().decisions_for(check_name(args.model, "model name"), limit=args.limit)
    except Exception as exc:
        return _fail(exc)
    for d in found:
        if args.json:
            print(d.model_dump_json())
        else:
            print(f"{d.created_at:%Y-%m-%d %H:%M:%S}  {d.decision_id}  {d.summary()}")
    return 0 if found else 1


def _decisions_show(args: argparse.Namespace) -> int:
    from mlops_glue import runtime

    try:
        d = runtime.state_store().get_decision(args.decision_id)
    except Exception as exc:
        return _fail(exc)
    if d is None:
        print(f"no decision {args.decision_id}", file=sys.stderr)
        return 1
    print(d.model_dump_json(indent=2))
    return 0


def replay_dlq(
    sqs: Any, dlq_url: str, queue_url: str, *, limit: int = 1000, dry_run: bool = False, wait: int = 1
) -> list[str]:
    """Move up to ``limit`` messages from ``dlq_url`` back to ``queue_url``; returns their message ids.

    Each message is sent first and deleted from the DLQ only after the send succeeded, so a crash
    leaves a copy in both (harmless: every handler is idempotent), never in neither. A dry run only
    peeks at one batch and leaves it visible. A FIFO queue (the webhook intake) keeps each message's
    group, so a model's deliveries stay in order among themselves.
    """
    moved: list[str] = []
    fifo = queue_url.endswith(".fifo")
    while len(moved) < limit:
        resp = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, limit - len(moved)),
            WaitTimeSeconds=wait,
            VisibilityTimeout=0 if dry_run else 30,
            MessageAttributeNames=["All"],
            AttributeNames=["MessageGroupId"],
        )
        messages = resp.get("Messages", [])
        if not messages:
            break
        for m in messages:
            moved.append(m["MessageId"])
            if dry_run:
                continue
            kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": m["Body"]}
            if m.get("MessageAttributes"):
                kwargs["MessageAttributes"] = {
                    k: v for k, v in m["MessageAttributes"].items() if k != "reason"
                }
            if fifo:
                # back at the end of its group (model / application); a fresh deduplication id per
                # dead-lettered message, so a replay is never dropped as a repeat of the original send
                kwargs["MessageGroupId"] = m.get("Attributes", {}).get("MessageGroupId") or "replayed"
                kwargs["MessageDeduplicationId"] = f"replay-{m['MessageId']}"[:128]
            sqs.send_message(**kwargs)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
        if dry_run:
            break
    return moved


def intake_queue_names(stage: str) -> tuple[str, str]:
    """(DLQ, queue) names of the webhook intake of ``stage``, as template.yaml names them."""
    return f"mlops-glue-webhook-intake-dlq-{stage}.fifo", f"mlops-glue-webhook-intake-{stage}.fifo"


def _dlq_replay(args: argparse.Namespace) -> int:
    import os

    import boto3

    sqs = boto3.client("sqs")
    try:
        dlq, queue = args.dlq, args.queue
        if args.intake:
            stage = args.stage or os.environ.get("STAGE") or "dev"
            names = intake_queue_names(stage)
            dlq = dlq or sqs.get_queue_url(QueueName=names[0])["QueueUrl"]
            queue = queue or sqs.get_queue_url(QueueName=names[1])["QueueUrl"]
        if not dlq or not queue:
            raise ValueError("give --dlq and --queue, or --intake [--stage STAGE]")
        moved = replay_dlq(sqs, dlq, queue, limit=args.max, dry_run=args.dry_run)
    except Exception as exc:
        return _fail(exc)
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {len(moved)} message(s) from {dlq} to {queue}")
    for mid in moved:
        print(f"  {mid}")
    return 0
