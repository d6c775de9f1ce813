"""Retry or reject, decided by the type of the error. Pure: no imports but the standard library.

Every flow ends a failed event in one of two ways, and the error's class says which:

* :class:`RetryableError` — it may pass (GitOps, MLflow, DynamoDB, the queue unavailable; the same
  event being handled elsewhere right now): the Function URLs answer 503, the intake worker delays the
  message with backoff and tries again, up to its maximum age, then the dead-letter queue;
* :class:`RejectedError` — it can never succeed as sent (a malformed event, a bad request): the Function
  URLs answer 4xx, the worker moves the message to the dead-letter queue at once with the reason, so
  nothing is lost and nothing is retried in vain.

Any other exception is a bug and is treated as retryable (the conservative choice: a fixed deployment
picks the message up again). The decision record may still say that a failure was retryable
(``evidence.retryable``), as audit information; nothing reads it to decide.
"""

from __future__ import annotations


class RetryableError(Exception):
    """Failed for a reason that may pass (a dependency unavailable, the event busy elsewhere): retry later."""


class RejectedError(Exception):
    """Can never succeed as sent (bad input): rejected with the reason, never retried."""


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` asks for a retry: everything but a :class:`RejectedError` (a bug is retried too)."""
    return not isinstance(exc, RejectedError)


__all__ = ["RejectedError", "RetryableError", "is_retryable"]
