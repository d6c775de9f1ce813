"""The data-arrival flow's CloudWatch metrics, written as EMF log lines by Powertools (no API calls).

Each data point carries the ``model`` dimension (and ``outcome`` for decisions), so one function
serving many models still gives per-model series the alarms of the metric-degradation flow can watch:
``RowsReceived``, ``WindowRows``, ``DriftShare``, ``DriftScoreMax``, ``Decisions``. Every point also
carries ``service`` (the function's Powertools service name), as the alarms' dimension sets expect.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

NAMESPACE = "MLOpsGlue"


class MetricSink(Protocol):
    def emit(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        """Record one data point."""
        ...


class EmfMetrics:
    """Powertools ``single_metric``: one EMF document per data point, flushed to stdout at once."""

    def __init__(self, namespace: str = NAMESPACE, service: str = "s3-new-data") -> None:
        self.namespace = namespace
        self.service = service

    def emit(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=self.namespace) as metric:
            for key, val in {"service": self.service, **dimensions}.items():
                metric.add_dimension(name=key, value=val)


@dataclass(frozen=True)
class Point:
    name: str
    value: float
    unit: str
    dimensions: dict[str, str]


class MemoryMetrics:
    """Records data points; for tests. Thread-safe."""

    def __init__(self) -> None:
        self.points: list[Point] = []
        self._lock = threading.Lock()

    def emit(self, name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
        with self._lock:
            self.points.append(Point(name, value, unit, dict(dimensions)))

    def total(self, name: str, **dims: str) -> float:
        return sum(
            p.value
            for p in self.points
            if p.name == name and all(p.dimensions.get(k) == v for k, v in dims.items())
        )
