"""The template's functions, imported from ``functions/<name>/app.py`` by path and invoked in-process.

The function folders are not packages (each is a Lambda code root), so each ``app.py`` is loaded under
a unique module name with the ``POWERTOOLS_SERVICE_NAME`` the template gives that function; its
Powertools logger writes to the demo's log file instead of the terminal. :meth:`LocalFunction.close`
undoes both, so the demo can run twice in one process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import IO, Any

from glue_local.aws_local import FunctionDef
from glue_local.localfront import LocalContext


@dataclass
class LocalFunction:
    """One loaded function: call it like Lambda would (``fn(event)``, a fresh context each time)."""

    definition: FunctionDef
    module: ModuleType
    _log_handler: logging.StreamHandler[Any] | None = None
    _previous_stream: IO[str] | None = None

    @property
    def handler(self) -> Callable[[dict[str, Any], Any], Any]:
        attr = self.definition.handler.rsplit(".", 1)[1]
        fn: Callable[[dict[str, Any], Any], Any] = getattr(self.module, attr)
        return fn

    def context(self) -> LocalContext:
        return LocalContext(self.definition.name)

    def __call__(self, event: dict[str, Any]) -> Any:
        return self.handler(event, self.context())

    def close(self) -> None:
        """Give the Powertools logger its stream back and forget the module."""
        if self._log_handler is not None and self._previous_stream is not None:
            self._log_handler.setStream(self._previous_stream)
        sys.modules.pop(self.module.__name__, None)


def load_function(fd: FunctionDef, log: IO[str]) -> LocalFunction:
    """Import ``fd``'s handler module by path, with the function's service name; its logs go to ``log``."""
    module_file, _ = fd.handler.rsplit(".", 1)
    path = fd.code_dir / f"{module_file}.py"
    name = f"glue_local_fn_{fd.logical_id}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    service = fd.environment.get("POWERTOOLS_SERVICE_NAME")
    before = os.environ.get("POWERTOOLS_SERVICE_NAME")
    if service:
        os.environ["POWERTOOLS_SERVICE_NAME"] = service
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if before is None:
            os.environ.pop("POWERTOOLS_SERVICE_NAME", None)
        else:
            os.environ["POWERTOOLS_SERVICE_NAME"] = before
    fn = LocalFunction(fd, module)
    logger = getattr(module, "logger", None)
    handler = getattr(logger, "registered_handler", None) if logger is not None else None
    if isinstance(handler, logging.StreamHandler):
        fn._log_handler = handler
        previous = handler.stream
        handler.setStream(log)
        # a handler first created during the run already points at the log (stdout is redirected then)
        fn._previous_stream = sys.__stdout__ if previous is log or previous is None else previous
    return fn
