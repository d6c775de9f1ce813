"""The event recorder the flows call at their entry, and the event log it writes (state table, with TTL).

A flow's hook is one line (``self.recorder.<what>(...)``); the default recorder does nothing, the
runtime wires :class:`LogRecorder` at the composition point. Recording never fails a flow: an event that
could not be recorded is logged as a warning naming the event (replay then says the period has a gap).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_glue.replay.events import (
    MAX_INPUT_BYTES,
    RecordedEvent,
    alarm_input,
    bump_dict,
    deployment_dict,
    event_id,
)

logger = logging.getLogger(__name__)

PK_PREFIX = "REPLAY#"
WEBHOOK_FIELDS = ("name", "version", "alias", "key", "value", "run_id")  # what the promotion rules read


def scrubbed(x: Any) -> Any:
    """``x`` with every string through the logs' redaction (known secrets, tokens, Slack URLs) and
    credentials in URLs (``https://user:token@host``) removed: a recorded event never carries a secret."""
    if isinstance(x, str):
        from mlops_glue.logs import REDACTED, URL_USERINFO, redact

        return URL_USERINFO.sub(rf"\1{REDACTED}@", redact(x))
    if isinstance(x, dict):
        return {scrubbed(k): scrubbed(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [scrubbed(v) for v in x]
    return x


class EventLog(ABC):
    """Recorded events by model, in time order."""

    @abstractmethod
    def append(self, event: RecordedEvent, expires_at: datetime) -> None:
        """Keep ``event`` until ``expires_at`` (a repeat of the same sort key overwrites it)."""

    @abstractmethod
    def events(self, model: str, since: datetime, until: datetime) -> Iterator[RecordedEvent]:
        """The events of ``model`` with ``since <= at < until``, oldest first."""


class MemoryEventLog(EventLog):
    """In-memory log for tests and local runs; thread-safe."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[RecordedEvent, datetime]] = {}
        self._lock = threading.Lock()

    def append(self, event: RecordedEvent, expires_at: datetime) -> None:
        with self._lock:
            self._items[(event.model, event.sort_key)] = (event, expires_at)

    def events(self, model: str, since: datetime, until: datetime) -> Iterator[RecordedEvent]:
        with self._lock:
            mine = sorted((k[1], e) for k, (e, _exp) in self._items.items() if k[0] == model)
        for _sk, e in mine:
            if since <= e.at < until:
                yield e

    def all(self) -> list[RecordedEvent]:
        with self._lock:
            return [e for e, _ in sorted(self._items.values(), key=lambda p: (p[0].at, p[0].sort_key))]


class DynamoEventLog(EventLog):
    """Events in the state table: ``pk = REPLAY#<model>``, ``sk = <at>#<flow>#<kind>#<id>``, TTL ``expires_at``."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def append(self, event: RecordedEvent, expires_at: datetime) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": PK_PREFIX + event.model},
                "sk": {"S": event.sort_key},
                "event": {"S": event.model_dump_json()},
                "expires_at": {"N": str(int(expires_at.timestamp()))},
            },
        )

    def events(self, model: str, since: datetime, until: datetime) -> Iterator[RecordedEvent]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {
                ":p": {"S": PK_PREFIX + model},
                ":a": {"S": since.astimezone(UTC).isoformat(timespec="microseconds")},
                ":b": {"S": until.astimezone(UTC).isoformat(timespec="microseconds")},
            },
        }
        for item in query_pages(self.client, kwargs):
            e = RecordedEvent.model_validate_json(item["event"]["S"])
            if since <= e.at < until:
                yield e


def query_pages(client: Any, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a DynamoDB query, page after page."""
    kwargs = dict(kwargs)
    while True:
        resp = client.query(**kwargs)
        yield from resp.get("Items", [])
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


class EventRecorder:
    """Does nothing: the default of every service (tests, the CLI's dry runs)."""

    enabled = False

    def object_counted(self, cfg: Any, model: str, ref: Any, profile: Any, counts: Any, at: datetime) -> None:
        """Data arrival: an object about to enter its model's window (its counts summary)."""

    def alarm(self, change: Any, model: str | None, stage: str, at: datetime) -> None:
        """Alarms: one alarm transition, before deciding."""

    def webhook(self, event: Any, input_id: str, at: datetime) -> None:
        """Promotion: an MLflow registry event of a configured model that we act on."""

    def gate_facts(
        self,
        model: str,
        version: str,
        input_id: str,
        metrics: dict[str, float],
        champion: str | None,
        champion_metrics: dict[str, float] | None,
        tags: dict[str, str],
        at: datetime,
    ) -> None:
        """Promotion: what the gate read from MLflow for ``version``."""

    def notification(self, n: Any, model: str, env: str, dep: Any, last_ours: Any, at: datetime) -> None:
        """Feedback: an Argo CD notification of one of our applications, with what Git said."""


NULL_RECORDER = EventRecorder()


class LogRecorder(EventRecorder):
    """Writes each event to an :class:`EventLog` with a TTL; never raises."""

    enabled = True

    def __init__(self, log: EventLog, ttl: timedelta = timedelta(days=35)) -> None:
        self.log = log
        self.ttl = ttl
        self.failures = 0

    def _keep(
        self,
        flow: str,
        model: str,
        ident: str,
        at: datetime,
        doc: dict[str, Any] | Callable[[], dict[str, Any]],
        kind: str = "event",
    ) -> None:
        try:
            if callable(doc):
                doc = (
                    doc()
                )  # built here: a shape the recorder did not expect is a warning, never the flow's error
            blob = json.dumps(scrubbed(json.loads(json.dumps(doc, default=str))), separators=(",", ":"))
            if len(blob) > MAX_INPUT_BYTES:
                raise ValueError(f"input of {len(blob):,} bytes > {MAX_INPUT_BYTES:,}")
            event = RecordedEvent(flow=flow, model=model, at=at, id=ident, kind=kind, input=json.loads(blob))
            self.log.append(event, at + self.ttl)
        except Exception as exc:  # never fails the flow; said, with the event
            self.failures += 1
            logger.warning(
                "event not recorded for replay",
                extra={
                    "flow": flow,
                    "model": model,
                    "event": ident,
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                },
            )

    def object_counted(self, cfg: Any, model: str, ref: Any, profile: Any, counts: Any, at: datetime) -> None:
        try:
            from mlops_glue.drift import evaluate

            result = evaluate(profile, counts, cfg.model(model).retrain.drift)
            scores = {
                c.name: None if not math.isfinite(c.score) else round(float(c.score), 6)
                for c in result.columns
            }
            methods: dict[str, list[str]] = {}
            for c in result.columns:
                methods.setdefault(c.method, []).append(c.name)
        except Exception as exc:  # the window still gets the object; replay says the drift is unknown
            scores, methods = {}, {}
            logger.warning(
                "drift summary not recorded for replay",
                extra={"model": model, "key": ref.key, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
        doc = {
            "object": ref.oid,
            "key": ref.key[:512],
            "version_id": ref.version_id,
            "rows": int(counts.rows),
            "scores": scores,  # column -> the file's drift score against the reference
            "methods": methods,  # method -> its columns (a dict and lists: about 3x faster to parse)
        }
        self._keep("data_arrival", model, ref.oid, at, doc)

    def alarm(self, change: Any, model: str | None, stage: str, at: datetime) -> None:
        if model is None:
            return  # not ours: nothing a configuration of ours could decide differently
        try:
            ident = event_id(change.identity)
        except Exception:
            ident = "unknown"
        self._keep("alarms", model, ident, at, lambda: alarm_input(change, stage))

    def webhook(self, event: Any, input_id: str, at: datetime) -> None:
        data = event.data.model_dump(mode="json")
        doc = {
            "event_type": event.event_type,
            # the fields the rules read, nothing else MLflow sent (its tags, the source URI, extras)
            "data": {k: data[k] for k in WEBHOOK_FIELDS if data.get(k) is not None},
            "input_id": input_id,
        }
        self._keep("promotion", event.data.name, event_id(input_id), at, doc)

    def gate_facts(
        self,
        model: str,
        version: str,
        input_id: str,
        metrics: dict[str, float],
        champion: str | None,
        champion_metrics: dict[str, float] | None,
        tags: dict[str, str],
        at: datetime,
    ) -> None:
        doc = {
            "input_id": input_id,
            "version": version,
            "metrics": dict(metrics),
            "champion": champion,
            "champion_metrics": None if champion_metrics is None else dict(champion_metrics),
            "tags": {k: v for k, v in tags.items() if k == "blocked"},
        }
        self._keep("promotion", model, event_id(input_id), at, doc, kind="gate_facts")

    def notification(self, n: Any, model: str, env: str, dep: Any, last_ours: Any, at: datetime) -> None:
        def doc() -> dict[str, Any]:
            return {
                "notification": n.model_dump(mode="json", by_alias=True),
                "environment": env,
                "deployment": deployment_dict(dep),
                "last_ours": bump_dict(last_ours),
            }

        try:
            ident = event_id(n.identity)
        except Exception:
            ident = "unknown"
        self._keep("feedback", model, ident, at, doc)
