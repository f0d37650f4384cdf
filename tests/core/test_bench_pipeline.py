"""The pipeline benchmark's slider-tick timing runs and really takes the reuse path."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_pipeline.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("T", "heads", "d"), [(32, 3, 8), (64, 12, 16)])
def test_time_edit_runs_on_sessions_with_several_heads(bench, T, heads, d):
    full, reuse = bench.time_edit(bench.sized_session(T, heads, d), rounds=3)
    assert full > 0 and reuse > 0
