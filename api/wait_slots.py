"""How many requests of one web process may hold their thread in a long-poll at once.

The web server runs each request on one of ``WEB_THREADS`` threads per process, and a
``GET /result?wait=N`` or ``POST /add`` with ``Prefer: wait=N`` keeps its thread until the task
ends or the wait runs out (up to 30 s). With a wait on every thread, everything else queues
behind them: ``/health`` stops answering and every POST and read hangs. Measured before this
limit under Granian: 16 waits on a pending task (2 processes × 8 threads) held a
``GET /health`` for 14.5 s of a 15 s wait.

So a quarter of each process's threads (at least one) never wait, unless WEB_THREADS is 1: a
single thread keeps its one waiting slot (`slots_for`). A request that finds every waiting
slot taken is answered at once, as if it had asked for no wait, with ``Retry-After: 1``; its
client asks again, as it would after a wait that ran out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RETRY_AFTER_SECONDS", "WaitSlots", "slots_for"]

#: What a request whose wait was not applied is told to wait before it asks again.
RETRY_AFTER_SECONDS = 1


def slots_for(threads: int) -> int:
    """Waiting slots for a process of ``threads`` threads: all but a quarter of them (at least
    one), and at least one slot, so a single-threaded process still honours waits."""
    return max(1, threads - max(1, threads // 4))


class WaitSlots:
    """At most ``limit`` requests of this process waiting at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._held = 0

    @property
    def held(self) -> int:
        """Slots in use now."""
        return self._held

    @contextmanager
    def hold(self, seconds: float) -> Iterator[float | None]:
        """The wait this request may make: ``seconds`` with a free slot (held for the block),
        or None when every slot is taken. A wait of 0 takes no slot and is always granted.
        Never blocks: a request that may not wait must be answered now."""
        if seconds <= 0:
            yield seconds
            return
        with self._lock:
            granted = self._held < self.limit
            self._held += granted
        if not granted:
            yield None
            return
        try:
            yield seconds
        finally:
            with self._lock:
                self._held -= 1
