"""Celery's worker consumer, back on Redis within seconds of its return, however long it was away.

While Redis is down the consumer tries to connect again and again, through kombu's
``Connection.ensure_connection``, which Celery 5.7 calls without intervals: kombu 5.7's
defaults wait 2 s, then 2 s more after each try, up to 30 s. After an outage of a few
minutes the worker then came back up to 30 s after Redis did, its queues unread and its
stopped adds not yet requeued meanwhile (measured: 11.7 s after a 30 s outage). Here the
pauses stay at `RECONNECT_INTERVAL_SECONDS`: a refused connection costs Redis nothing, and
the worker logs one line per try, as before.

Selected by ``worker_consumer`` in `config.celery_config`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

__all__ = ["RECONNECT_INTERVAL_SECONDS", "Consumer"]

#: Seconds between two tries to reach Redis again: the first pause, and every one after it.
RECONNECT_INTERVAL_SECONDS = 2


class Consumer(CeleryConsumer):
    def ensure_connected(self, conn: Any) -> Any:
        """Celery's, with kombu's pauses between tries held at `RECONNECT_INTERVAL_SECONDS`."""
        conn.ensure_connection = partial(
            conn.ensure_connection,
            interval_start=RECONNECT_INTERVAL_SECONDS,
            interval_step=0,
            interval_max=RECONNECT_INTERVAL_SECONDS,
        )
        return super().ensure_connected(conn)
