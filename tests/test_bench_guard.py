"""Each benchmark runs (small N). Never a timing: only that it produces its figures."""
import importlib

import pytest

from bench.__main__ import modules


@pytest.mark.parametrize("name", modules([]))
def test_benchmark_runs_and_reports_figures(name):
    figures = importlib.import_module(f"bench.{name}").run(quick=True)
    assert isinstance(figures, dict) and figures
