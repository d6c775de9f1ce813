"""State-store keys shared by more than one flow: one place, so a writer and its readers cannot drift apart.

Each function returns ``(pk, sk)`` for :class:`~mlops_glue.adapters.state.StateStore`. A model's
documents share the partition ``MODEL#<model>``. The document stored under each key is typed in
:mod:`mlops_glue.documents` and read and written through :mod:`mlops_glue.repositories`.
"""

from __future__ import annotations


def model_pk(model: str) -> str:
    """The partition of every per-model document."""
    return f"MODEL#{model}"


def window_key(model: str) -> tuple[str, str]:
    """The model's open data window and its closed, not yet submitted windows (data arrival; CLI)."""
    return model_pk(model), "WINDOW"


def retrain_ledger_key(model: str) -> tuple[str, str]:
    """Runs of normal retrainings, for cooldown and budget (written by data arrival)."""
    return model_pk(model), "LEDGER#retrain"


def emergency_ledger_key(model: str) -> tuple[str, str]:
    """Runs of emergency retrainings, a budget separate from normal ones (written by the alarm flow)."""
    return model_pk(model), "LEDGER#emergency"


def last_dataset_key(model: str) -> tuple[str, str]:
    """The latest submitted data window's manifest: written by data arrival, read by the alarm flow."""
    return model_pk(model), "LAST_DATASET"


def outbox_key(model: str) -> tuple[str, str]:
    """Slack notices of any flow that failed to post, waiting for the sweep (``mlops_glue.outbox``)."""
    return model_pk(model), "OUTBOX"


def written_key(model: str, env: str) -> tuple[str, str]:
    """What each version of the model writes to an environment's first target (promotion; feedback reads)."""
    return model_pk(model), f"WRITTEN#{env}"


def member_key(model: str, object_id: str) -> tuple[str, str]:
    """One data object's membership: the window it was counted in, created once, never overwritten.

    Written in the same transaction as the window update that counts the object (data arrival), so an
    object can enter one window only, however late a redelivery or a DLQ replay comes.
    """
    return model_pk(model), f"OBJECT#{object_id}"


def blocklist_key(model: str) -> tuple[str, str]:
    """Versions never promoted automatically again (``mlops_glue.guards``)."""
    return model_pk(model), "BLOCKLIST"


def pause_key(model: str, env: str) -> tuple[str, str]:
    """Automation paused for a model and environment after a human change (``mlops_glue.guards``)."""
    return model_pk(model), f"PAUSE#{env}"


def alarm_key(alarm_name: str) -> tuple[str, str]:
    """The alarm's own state document: the newest state seen and the alert to thread under."""
    return f"ALARM#{alarm_name}", "STATE"


def claim_key(action_id: str) -> tuple[str, str]:
    """The claim on one action (``mlops_glue.claims``): a decision id, or a flow's own action name."""
    return f"CLAIM#{action_id}", "#"


OFFLOAD_SHARDS = tuple("0123456789abcdef")
"""The shards of a model's offloads, by the first hex digit of the object id: one DynamoDB item (400 KB,
~600 offloads) would not hold a burst of large objects."""


def offloads_key(model: str, shard: str) -> tuple[str, str]:
    """The model's data objects being counted on the cluster (``services.arrival_offload``), in the shard
    named by the object id's first hex digit (one of ``OFFLOAD_SHARDS``)."""
    return model_pk(model), f"OFFLOADS#{shard}"
