"""Paths the feedback suite reads."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
CATALOG = ROOT / "specs" / "argocd-notifications" / "catalog-install.yaml"
