"""infra/local/idle_gc.py: full collections run when the stack's process is idle, not mid-request."""

from __future__ import annotations

import gc

from infra.local.idle_gc import NEVER, IdleCollector


class Clock:
    def __init__(self):
        self.now = 0.0
        self.cpu = 0.0

    def advance(self, seconds: float, busy: float) -> None:
        """``seconds`` pass with ``busy`` of a core used."""
        self.now += seconds
        self.cpu += seconds * busy


def _collector(clock: Clock, pending: list[int], ran: list[float]) -> IdleCollector:
    return IdleCollector(every_s=2, idle_cpu=0.15, max_wait_s=60, clock=lambda: clock.now, cpu=lambda: clock.cpu,
                         collect=lambda: ran.append(clock.now), pending=lambda: pending[0])


def test_a_full_collection_waits_for_an_idle_interval_with_young_collections_behind_it():
    clock, pending, ran = Clock(), [0], []
    idle = _collector(clock, pending, ran)
    clock.advance(2, busy=0.9)
    pending[0] = 3
    assert not idle.check()  # busy: the stack is serving requests
    clock.advance(2, busy=0.05)
    assert idle.check() and ran == [4]
    pending[0] = 0
    clock.advance(2, busy=0.0)
    assert not idle.check()  # idle, but nothing new since: no second walk of the heap
    pending[0] = 1
    clock.advance(2, busy=0.0)
    assert idle.check() and ran == [4, 8]


def test_a_stack_busy_for_long_still_collects_once_the_wait_is_over():
    clock, pending, ran = Clock(), [5], []
    idle = _collector(clock, pending, ran)
    for _ in range(29):
        clock.advance(2, busy=1.0)
        assert not idle.check()
    clock.advance(2, busy=1.0)
    assert idle.check() and ran == [60]
    clock.advance(2, busy=1.0)
    assert not idle.check()  # the wait starts again from that collection


def test_start_leaves_the_young_generations_alone_and_stop_puts_the_thresholds_back():
    before = gc.get_threshold()
    idle = IdleCollector(every_s=60).start()
    try:
        assert gc.get_threshold() == (before[0], before[1], NEVER)
    finally:
        idle.stop()
    assert gc.get_threshold() == before
