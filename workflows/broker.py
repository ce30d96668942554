"""kombu's Redis transport, fixed so that a worker survives Redis going away mid-task.

When the broker connection breaks while a BRPOP is in flight and the worker holds
unacknowledged messages (any running ``acks_late`` task), kombu 5.7 closes the channel twice:
the first ``Channel.close()`` tries to read the pending BRPOP reply, gets ConnectionError and
stops before marking the channel closed; the second runs after the connection was detached
from its transport and fails with ``AttributeError: 'NoneType' object has no attribute
'hostname'``, which Celery treats as unrecoverable: the worker shuts down instead of
reconnecting. (tests/integration/test_redis_outage.py restarts Redis under a running add.)

The fix: a dead connection has no BRPOP reply to read, so close the channel anyway. The
unacknowledged messages it could not restore stay in Redis's ``unacked`` hash, from where any
worker restores them after the visibility timeout. Selected by ``broker_transport`` in
`config.celery_config`; it speaks redis:// and rediss:// like the stock transport.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis

__all__ = ["Channel", "Transport"]


class Channel(kombu_redis.Channel):
    def close(self) -> None:
        if self._in_poll and not self.closed:
            try:
                self._brpop_read()
            except kombu_redis.Empty:
                pass
            except self.connection_errors:
                pass  # the connection is gone, and the reply with it; _in_poll is reset
        super().close()


class Transport(kombu_redis.Transport):
    Channel = Channel
