"""The review tests reuse the data-arrival and alarm suites' fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data_arrival"))  # arrival_helpers

from tests.alarms.conftest import cfg, clock, make_service, notifier, store, submitter  # noqa: F401
from tests.data_arrival.conftest import argo, data_dir, deployed, profile, reference, slack  # noqa: F401
