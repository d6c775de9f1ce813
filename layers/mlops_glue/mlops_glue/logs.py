"""Logging for every function: one structured (Powertools) output, and no secret in any record.

:func:`setup` is called once by each handler module with its Powertools ``Logger``:

* the package's modules log with ``logging.getLogger(__name__)``; their parent ``mlops_glue`` gets the
  Powertools handler, formatter and level (``copy_config_to_registered_loggers``), so their INFO lines
  and ``extra`` fields arrive as JSON next to the handler's own;
* the libraries that can print secrets are pinned at WARNING whatever the level of the function:
  botocore at DEBUG prints request and response bodies (``GetSecretValue`` answers included), urllib3
  and requests print URLs, slack_sdk prints the incoming-webhook URL on a retry or a 429 (INFO) and
  request bodies (DEBUG), PyGithub prints headers at DEBUG;
* every log record is redacted when it is created (a record factory) and again by a :class:`Redactor`
  on every handler (for ``extra`` fields, set after creation): every secret value the secrets adapter
  has read, and anything shaped like a Slack webhook URL, a Slack or GitHub token or a bearer header,
  becomes ``[redacted]`` — also in exception tracebacks, e.g. a library that logs an exception whose
  message carries a URL with a token (Powertools' batch processor logs failed records at DEBUG).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

REDACTED = "[redacted]"
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
"""The ``user:token@`` of a URL (group 1: the scheme): refused in the configuration, scrubbed from records."""

# libraries whose DEBUG/INFO lines can carry a secret value, a webhook URL or an authorization header
LIBRARY_LOGGERS = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "slack_sdk",
    "slack",
    "github",
    "git",
    "mlflow",
)

_PATTERNS = (
    re.compile(r"https://hooks\.slack\.com/[^\s'\"<>]+"),
    re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{6,}"),
    re.compile(r"\b(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{16,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{16,}"),
    re.compile(r"(?i)\b(authorization|x-glue-token)([\"']?\s*[:=]\s*[\"']?)[^\s'\",}]+"),
    re.compile(r"(?i)\b(bearer|token)(\s+)[A-Za-z0-9._~+/=-]{12,}"),
)

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so no log record ever shows it (values under 6 characters are too common)."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped string replaced."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class Redactor(logging.Filter):
    """Rewrites a record's message and its string ``extra`` fields through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template only
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD or key.startswith("_"):
                continue
            if isinstance(value, str):
                record.__dict__[key] = redact(value)
            elif isinstance(value, dict | list | tuple):
                record.__dict__[key] = _deep(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _deep(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_deep(v) for v in value)
    return value


_STANDARD = set(logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__) | {"message", "asctime"}
REDACTOR = Redactor()


def _guard(target: logging.Logger | logging.Handler) -> None:
    if REDACTOR not in target.filters:
        target.addFilter(REDACTOR)


def quiet_libraries() -> None:
    """Pin the secret-printing libraries at WARNING and redact what they still say."""
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        lib.setLevel(logging.WARNING)
        _guard(lib)


def library_logger(name: str) -> logging.Logger:
    """A logger to hand to a client library (slack_sdk's ``logger=``): WARNING and redacted at the source."""
    lib = logging.getLogger(f"mlops_glue.lib.{name}")
    lib.setLevel(logging.WARNING)
    _guard(lib)
    return lib


_factory_installed = False


def install_record_factory() -> None:
    """Redact every record at creation, whichever logger or handler it goes to (idempotent)."""
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            REDACTOR.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True


def setup(logger: Any | None = None) -> None:
    """Route the package's logs through ``logger`` (a Powertools Logger) and guard every record."""
    install_record_factory()
    quiet_libraries()
    package = logging.getLogger("mlops_glue")
    if logger is not None:
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        copy_config_to_registered_loggers(source_logger=logger, include={"mlops_glue"})
        registered = getattr(logger, "registered_handler", None)
        if isinstance(registered, logging.Handler):
            _guard(registered)
    for handler in [*logging.getLogger().handlers, *package.handlers]:
        _guard(handler)
