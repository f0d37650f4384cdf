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


def _run_checks(collector, rounds: int, keep: list | None) -> list[int]:
    """``rounds`` checks, each after enough allocations for a young collection to be due;
    with ``keep``, the allocations survive (they reach the oldest generation)."""
    done = []
    for _ in range(rounds):
        batch = [_Cycle() for _ in range(collector.threshold[0] + 50)]  # freed by gc only
        if keep is not None:
            keep.append(batch)
        del batch
        done.append(collector.check())
    return done


def test_the_oldest_generation_is_collected_only_once_it_has_grown_by_a_quarter(qtbot):
    from explorer.ui.app import GuiThreadCollector

    create_app()
    collector = GuiThreadCollector()
    collector.timer.stop()  # driven by hand here
    try:
        gc.collect()
        collector._long_lived = len(gc.get_objects(generation=2))
        t0, t1, t2 = collector.threshold
        young_only = _run_checks(collector, 3 * t1 * t2, keep=None)  # garbage only
        assert 0 in young_only and 1 in young_only  # both young generations collected
        assert 2 not in young_only  # nothing new lives long: no full collection
        kept: list = []
        grown = _run_checks(collector, 3 * t1 * t2, keep=kept)
        # kept lists outgrow a quarter of the oldest generation: a full collection ran
        assert len(kept) * (t0 + 50) > collector._long_lived // 8
        assert 2 in grown
    finally:
        del collector
