"""A Redis outage longer than an add: the worker stays up, and every add ends with its sum."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from kombu.common import ignore_errors

from config import load_settings
from config.redis_server import RedisServer
from workflows import create_celery
from workflows.requeue import unrestored

pytestmark = pytest.mark.integration


def test_a_run_acknowledged_after_its_channel_lost_redis_is_left_to_the_requeue(
    tmp_path: Path,
) -> None:
    """A run can end after its worker lost Redis: one the worker had not stopped yet, or one
    whose end it read only after reconnecting. Its acknowledgement then went to the closed
    channel, where kombu 5.7 raised AttributeError, which stopped the worker. The message
    stays where the close left it, noted for the requeue (`workflows.requeue`)."""
    server = RedisServer(data_dir=tmp_path / "redis").start()
    try:
        celery = create_celery(load_settings(redis_url=server.url))
        celery.send_task("sumflow.add", (1, 2), queue="default")
        connection = celery.connection_for_read()
        channel = connection.default_channel
        message = channel.basic_get("default", no_ack=False)
        assert message is not None

        # Redis goes away; the consumer closes its channel and its connection, as Celery's does.
        server.stop()
        with pytest.raises(channel.connection_errors):
            channel.close()
        ignore_errors(connection, connection.close)
        server.start()

        message.ack()  # the run's end, read after the reconnection

        assert message.delivery_tag in unrestored
        assert redis.Redis.from_url(server.url).hexists("unacked", message.delivery_tag)
    finally:
        unrestored.clear()
        server.stop()
