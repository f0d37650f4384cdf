"""Cyclic garbage is collected from the GUI thread's event loop, never at an arbitrary
allocation (inside a Qt call holding one of QObject's mutexes, or in a worker thread)."""

import gc
import json
import os
import subprocess
import sys
import threading

from explorer.ui.app import create_app


class _Cycle:
    def __init__(self):
        self.me = self


def test_collection_is_off_the_allocation_path_and_on_the_event_loop(qtbot):
    create_app()
    assert not gc.isenabled()
    collected_in: list[str] = []

    class Witness:
        def __init__(self):
            self.me = self

        def __del__(self):
            collected_in.append(threading.current_thread().name)

    gc.collect()
    Witness()  # garbage in a cycle: only a collection frees it

    def churn():  # allocations that would trigger automatic collections many times over
        junk = [[i] for i in range(50_000)]
        del junk
        for _ in range(2_000):
            _Cycle()

    worker = threading.Thread(target=churn, name="churn")
    worker.start()
    worker.join()
    assert collected_in == []  # nothing collected on the worker's allocations
    qtbot.waitUntil(lambda: bool(collected_in), timeout=5_000)  # the event loop's timer did
    assert collected_in == ["MainThread"]


CHILD = r"""
import gc, json
from PySide6 import QtCore
from explorer.ui.app import GuiThreadCollector

class Cycle:
    def __init__(self):
        self.me = self

app = QtCore.QCoreApplication([])
collector = GuiThreadCollector()
collector.timer.stop()  # driven by hand here
collector.size_every_s = 0.0  # measure the oldest generation whenever it may be due
t0, t1, t2 = collector.threshold

def run_checks(rounds, keep):
    # each check after enough allocations for a young collection to be due; kept ones
    # survive into the oldest generation
    done = []
    for _ in range(rounds):
        batch = [Cycle() for _ in range(t0 + 50)]  # freed by the collector only
        if keep is not None:
            keep.append(batch)
        del batch
        done.append(collector.check())
    return done

gc.collect()
base = len(gc.get_objects(generation=2))
young_only = run_checks(3 * t1 * t2, None)
kept = []
grown = run_checks(3 * t1 * t2, kept)
print("REPORT " + json.dumps({"base": base, "young_only": young_only, "grown": grown,
                             "kept": len(kept) * (t0 + 50)}))
"""


def test_the_oldest_generation_is_collected_only_once_it_has_grown_by_a_quarter():
    # in a fresh interpreter: the rule is relative to the size of the oldest generation,
    # which in a test run depends on every test before
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("REPORT ")]
    assert lines, done.stderr[-3000:]
    r = json.loads(lines[-1][len("REPORT ") :])
    assert 0 in r["young_only"] and 1 in r["young_only"]  # both young generations collected
    assert 2 not in r["young_only"]  # nothing new lives long: no full collection
    assert r["kept"] > r["base"] // 4  # the kept objects outgrow a quarter of it ...
    assert 2 in r["grown"]  # ... and the oldest generation is collected
