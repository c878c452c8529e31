"""Every benchmark script still imports: a rename in the package must not leave a bench that cannot run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("*.py")))
def test_the_bench_script_imports(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import their helpers (`_servers`) as siblings
    monkeypatch.setattr(sys, "argv", [script])
    importlib.import_module(script)
