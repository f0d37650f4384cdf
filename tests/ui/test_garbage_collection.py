"""Cyclic garbage is collected from the GUI thread's event loop, never at an arbitrary
allocation (inside a Qt call holding one of QObject's mutexes, or in a worker thread)."""

import gc
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
