"""The latency benchmark runs end to end on the real window (one tick per case)."""

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_latency.py"


def test_bench_latency_runs_and_prints_every_case(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--repeats", "1", "--skip-startup", "--skip-memory"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if re.match(r"\| (default|512)", line)]
    assert len(rows) == 3, proc.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        tokens, median = int(cells[1]), float(cells[3])
        assert tokens > 0 and median > 0.0
    assert "| 512 tokens" in rows[2] and int(rows[2].split("|")[2]) >= 500
    huge = [line for line in proc.stdout.splitlines() if line.startswith("| 4096-token text")]
    assert len(huge) == 1 and int(huge[0].split("|")[2]) >= 500, proc.stdout


def test_bench_latency_rejects_a_bad_repeat_count():
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--repeats", "0"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "--repeats must be at least 1" in proc.stderr
