"""The state store: versioned documents (optimistic concurrency) and the decision log.

One DynamoDB table (on-demand, PITR, TTL on ``expires_at``) with ``pk``/``sk`` keys holds:

* versioned documents: windows, cooldown and budget ledgers, blocklists, pauses — written with a
  condition on the version read, so concurrent writers never lose an update;
* decisions: ``pk = DECISION#<id>``, ``sk = "#"``, indexed by model through the ``by_model`` GSI
  (``gsi1pk = MODEL#<model>``, ``gsi1sk = <created_at>#<id>``);
* Powertools idempotency records (its own ``pk``/``sk`` items with the ``idempotency#`` prefix).
"""

from __future__ import annotations

import json
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops_glue.errors import RetryableError
from mlops_glue.records import Decision


class ConflictError(Exception):
    """A conditional write lost the race: someone else wrote the document first."""


class StateError(RetryableError):
    """The state store failed (throttled, unreachable, misconfigured): retried, then the DLQ."""


class ClaimTakenError(ConflictError):
    """A document that had to be created with a write already exists (the write was not made)."""

    def __init__(self, message: str, existing: dict[tuple[str, str], dict[str, Any]]) -> None:
        super().__init__(message)
        self.existing = existing  # (pk, sk) -> the document found, where the store returned it


@dataclass(frozen=True)
class Create:
    """A document written only if it does not exist yet, in the same transaction as another write."""

    pk: str
    sk: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Versioned:
    data: dict[str, Any]
    version: int


BACKOFF_BASE_S = 0.002  # the first wait after a lost race is at most this; it doubles per attempt
BACKOFF_CAP_S = 0.1


def backoff(attempt: int) -> None:
    """Wait a random time up to ``BACKOFF_BASE_S · 2^attempt`` (at most ``BACKOFF_CAP_S``): full jitter."""
    time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))  # noqa: S311 — jitter


class StateStore(ABC):
    """Versioned documents and the decision log."""

    @abstractmethod
    def get(self, pk: str, sk: str = "#") -> Versioned | None:
        """The document and its version, or None."""

    @abstractmethod
    def put(
        self,
        pk: str,
        sk: str,
        data: dict[str, Any],
        expected_version: int | None,
        expires_at: datetime | None = None,
    ) -> int:
        """Write when the stored version is ``expected_version`` (None: must not exist); return the new one.

        Raises ConflictError otherwise.
        """

    @abstractmethod
    def put_with_creates(
        self, pk: str, sk: str, data: dict[str, Any], expected_version: int | None, creates: list[Create]
    ) -> int:
        """:meth:`put` and create every document of ``creates``, all or nothing (one transaction).

        Raises ClaimTakenError when one of ``creates`` exists (nothing written), ConflictError when the
        version condition failed.
        """

    @abstractmethod
    def record_decision(self, decision: Decision) -> None:
        """Store (or overwrite) a decision record."""

    @abstractmethod
    def get_decision(self, decision_id: str) -> Decision | None:
        """One decision by id."""

    @abstractmethod
    def decisions_for(self, model: str, limit: int = 20) -> list[Decision]:
        """The latest decisions of ``model``, newest first."""

    def update(
        self,
        pk: str,
        sk: str,
        fn: Callable[[dict[str, Any] | None], dict[str, Any] | None],
        attempts: int = 50,
        expires_at: datetime | None = None,
    ) -> dict[str, Any] | None:
        """Read-modify-write with optimistic concurrency: ``fn(current) -> new`` (None: no write).

        ``fn`` must be pure: it is called again after a lost race, after a short random wait (backoff
        with full jitter, so racing writers spread out). Returns what was written.
        """
        for attempt in range(attempts):
            cur = self.get(pk, sk)
            new = fn(None if cur is None else dict(cur.data))
            if new is None:
                return None
            try:
                self.put(pk, sk, new, None if cur is None else cur.version, expires_at)
                return new
            except ConflictError:
                backoff(attempt)
        raise StateError(f"too much contention on {pk}/{sk} after {attempts} attempts")


class MemoryStateStore(StateStore):
    """In-memory store for unit tests and the CLI's dry runs; thread-safe."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], Versioned] = {}
        self._decisions: dict[str, Decision] = {}
        self._lock = threading.Lock()

    def get(self, pk: str, sk: str = "#") -> Versioned | None:
        with self._lock:
            v = self._docs.get((pk, sk))
            return None if v is None else Versioned(json.loads(json.dumps(v.data)), v.version)

    def put(
        self,
        pk: str,
        sk: str,
        data: dict[str, Any],
        expected_version: int | None,
        expires_at: datetime | None = None,
    ) -> int:
        with self._lock:
            cur = self._docs.get((pk, sk))
            if (cur.version if cur else None) != expected_version:
                raise ConflictError(f"{pk}/{sk}")
            version = (cur.version if cur else 0) + 1
            self._docs[(pk, sk)] = Versioned(json.loads(json.dumps(data, default=str)), version)
            return version

    def put_with_creates(
        self, pk: str, sk: str, data: dict[str, Any], expected_version: int | None, creates: list[Create]
    ) -> int:
        with self._lock:
            taken = {
                (c.pk, c.sk): self._docs[(c.pk, c.sk)].data for c in creates if (c.pk, c.sk) in self._docs
            }
            if taken:
                raise ClaimTakenError(f"{', '.join(f'{p}/{s}' for p, s in taken)} exist", taken)
            cur = self._docs.get((pk, sk))
            if (cur.version if cur else None) != expected_version:
                raise ConflictError(f"{pk}/{sk}")
            version = (cur.version if cur else 0) + 1
            self._docs[(pk, sk)] = Versioned(json.loads(json.dumps(data, default=str)), version)
            for c in creates:
                self._docs[(c.pk, c.sk)] = Versioned(json.loads(json.dumps(c.data, default=str)), 1)
            return version

    def record_decision(self, decision: Decision) -> None:
        with self._lock:
            self._decisions[decision.decision_id] = decision.model_copy(deep=True)

    def get_decision(self, decision_id: str) -> Decision | None:
        with self._lock:
            return self._decisions.get(decision_id)

    def decisions_for(self, model: str, limit: int = 20) -> list[Decision]:
        with self._lock:
            mine = [d for d in self._decisions.values() if d.model == model]
        mine.sort(key=lambda d: (d.created_at, d.decision_id), reverse=True)
        return mine[:limit]


class DynamoStateStore(StateStore):
    """The state store on DynamoDB. The client is injectable and built lazily."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def get(self, pk: str, sk: str = "#") -> Versioned | None:
        try:
            resp = self.client.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ConsistentRead=True,
            )
        except Exception as exc:
            raise StateError(f"DynamoDB get_item {self.table_name} {pk}/{sk} failed: {exc}") from exc
        item = resp.get("Item")
        if not item or "doc" not in item:
            return None
        return Versioned(json.loads(item["doc"]["S"]), int(item["version"]["N"]))

    def put(
        self,
        pk: str,
        sk: str,
        data: dict[str, Any],
        expected_version: int | None,
        expires_at: datetime | None = None,
    ) -> int:
        version = (expected_version or 0) + 1
        item = _doc_item(pk, sk, data, version)
        if expires_at is not None:
            item["expires_at"] = {"N": str(int(expires_at.timestamp()))}
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if expected_version is None:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kwargs["ConditionExpression"] = "version = :v"
            kwargs["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        try:
            self.client.put_item(**kwargs)
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise ConflictError(f"{pk}/{sk}") from exc
        except Exception as exc:
            raise StateError(f"DynamoDB put_item {self.table_name} {pk}/{sk} failed: {exc}") from exc
        return version

    def put_with_creates(
        self, pk: str, sk: str, data: dict[str, Any], expected_version: int | None, creates: list[Create]
    ) -> int:
        """One TransactWriteItems: the versioned put and a conditional put per created document."""
        version = (expected_version or 0) + 1
        main: dict[str, Any] = {"TableName": self.table_name, "Item": _doc_item(pk, sk, data, version)}
        if expected_version is None:
            main["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            main["ConditionExpression"] = "version = :v"
            main["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        items: list[dict[str, Any]] = [{"Put": main}]
        for c in creates:
            items.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": _doc_item(c.pk, c.sk, c.data, 1),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            taken: dict[tuple[str, str], dict[str, Any]] = {}
            for c, r in zip(creates, reasons[1:], strict=False):
                if r.get("Code") == "ConditionalCheckFailed":
                    old = r.get("Item") or {}
                    taken[(c.pk, c.sk)] = json.loads(old["doc"]["S"]) if "doc" in old else {}
            if taken:
                raise ClaimTakenError(f"{', '.join(f'{p}/{s}' for p, s in taken)} exist", taken) from exc
            codes = {str(r.get("Code")) for r in reasons}
            if codes <= {"None", "ConditionalCheckFailed", "TransactionConflict"}:
                raise ConflictError(f"{pk}/{sk}") from exc  # lost a race: read again and retry
            raise StateError(
                f"DynamoDB transaction on {self.table_name} {pk}/{sk} cancelled: {sorted(codes)}"
            ) from exc
        except Exception as exc:
            raise StateError(
                f"DynamoDB transact_write_items {self.table_name} {pk}/{sk} failed: {exc}"
            ) from exc
        return version

    def record_decision(self, decision: Decision) -> None:
        created = decision.created_at.isoformat()
        item = {
            "pk": {"S": f"DECISION#{decision.decision_id}"},
            "sk": {"S": "#"},
            "gsi1pk": {"S": f"MODEL#{decision.model}"},
            "gsi1sk": {"S": f"{created}#{decision.decision_id}"},
            "record": {"S": decision.model_dump_json()},
            "outcome": {"S": decision.outcome.value},
            "kind": {"S": decision.kind.value},
        }
        try:
            self.client.put_item(TableName=self.table_name, Item=item)
        except Exception as exc:
            raise StateError(f"DynamoDB put decision {decision.decision_id} failed: {exc}") from exc

    def get_decision(self, decision_id: str) -> Decision | None:
        try:
            resp = self.client.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"DECISION#{decision_id}"}, "sk": {"S": "#"}},
            )
        except Exception as exc:
            raise StateError(f"DynamoDB get decision {decision_id} failed: {exc}") from exc
        item = resp.get("Item")
        return Decision.model_validate_json(item["record"]["S"]) if item else None

    def decisions_for(self, model: str, limit: int = 20) -> list[Decision]:
        try:
            resp = self.client.query(
                TableName=self.table_name,
                IndexName="by_model",
                KeyConditionExpression="gsi1pk = :m",
                ExpressionAttributeValues={":m": {"S": f"MODEL#{model}"}},
                ScanIndexForward=False,
                Limit=limit,
            )
        except Exception as exc:
            raise StateError(f"DynamoDB query decisions of {model} failed: {exc}") from exc
        return [Decision.model_validate_json(i["record"]["S"]) for i in resp.get("Items", [])]


def _doc_item(pk: str, sk: str, data: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "doc": {"S": json.dumps(data, default=str, separators=(",", ":"))},
        "version": {"N": str(version)},
    }


def idempotency_layer(table_name: str, *, static_pk: str | None = None, client: Any | None = None) -> Any:
    """Powertools' DynamoDB idempotency layer on the state table.

    Its records use the table's ``pk``/``sk`` keys (``pk`` = ``static_pk`` or Powertools' default
    ``idempotency#<function>``) and its TTL attribute ``expires_at``, so they expire with everything else.
    """
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    kwargs: dict[str, Any] = {"static_pk_value": static_pk} if static_pk else {}
    return DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        expiry_attr="expires_at",
        boto3_client=client,
        **kwargs,
    )
