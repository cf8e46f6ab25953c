"""Full garbage collections of the local stack's process, moved to when it is idle.

The local stack keeps every table item and object as Python objects in this process: millions of them
once a workspace holds tens of thousands of traces. Python's full (generation 2) collection walks every
one of them, and its own heuristic starts one whenever the heap has grown by a quarter: measured during
two execute runs over 20,000 traces (bench/scale.py), the two full collections of each run paused the
process for 3.6 s and 4.8 s in all. A pause like that in the middle of a sandbox call is the likely
cause of a whole batch reported "timeout" in a bench run (its child not ready within the 5 s limit),
which on AWS, where the sandbox runs alone in its function, cannot happen. So here the young generations
are collected as usual, and a full collection runs when the process has been idle for a check interval
(under ``idle_cpu`` of a core) and has collected its young generation since the last full collection,
or once ``max_wait_s`` has passed without one.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Callable

NEVER = 10**9  # generation 2's threshold: the interpreter starts no full collection of its own


class IdleCollector:
    """``start()`` turns the interpreter's full collections off and runs them from a thread instead;
    ``stop()`` puts the thresholds back."""

    def __init__(self, *, every_s: float = 2.0, idle_cpu: float = 0.15, max_wait_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic, cpu: Callable[[], float] = time.process_time,
                 collect: Callable[[], object] = gc.collect,
                 pending: Callable[[], int] = lambda: gc.get_count()[2]):
        self.every_s = every_s
        self.idle_cpu = idle_cpu
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._cpu = cpu
        self._collect = collect
        self._pending = pending  # young collections since the last full one (nothing new to walk when 0)
        self._thresholds: tuple[int, int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_check = (clock(), cpu())
        self._last_full = clock()
        self.full_collections = 0

    def start(self) -> "IdleCollector":
        self._thresholds = gc.get_threshold()
        gc.set_threshold(self._thresholds[0], self._thresholds[1], NEVER)
        self._last_check = (self._clock(), self._cpu())
        self._last_full = self._clock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="idle-gc")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._thresholds:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def check(self) -> bool:
        """Run a full collection if the process was idle since the last check, or one is overdue; whether it ran."""
        now, used = self._clock(), self._cpu()
        (then, used_then), self._last_check = self._last_check, (now, used)
        if not self._pending():
            return False
        idle = now > then and (used - used_then) / (now - then) < self.idle_cpu
        if not idle and now - self._last_full < self.max_wait_s:
            return False
        self._collect()
        self.full_collections += 1
        self._last_full = self._clock()
        self._last_check = (self._last_full, self._cpu())  # the collection's own CPU is not the stack's work
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.check()
