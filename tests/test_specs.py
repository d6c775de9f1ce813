"""The vendored specs are a byte-identical copy of the shared ones (when the shared folder is present)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDORED = ROOT / "specs"
SHARED = ROOT.parent / "shared" / "specs"


def _files(folder: Path) -> dict[str, bytes]:
    skip = {"README.md", "SPECS.md"}
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name not in skip
    }


@pytest.mark.skipif(not SHARED.is_dir(), reason="no shared specs beside this checkout (a standalone clone)")
def test_vendored_specs_equal_the_shared_ones() -> None:
    shared, vendored = _files(SHARED), _files(VENDORED)
    assert sorted(shared) == sorted(vendored)
    assert [name for name in shared if shared[name] != vendored[name]] == []
    assert (SHARED / "README.md").read_bytes() == (VENDORED / "SPECS.md").read_bytes()
