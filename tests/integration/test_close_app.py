"""`close_app`: an app dropped before its process ends closes its own connections."""

from __future__ import annotations

import pytest
import redis

from api import close_app, create_app
from api.schedules import STORE_KEY
from api.services import EXTENSION_KEY

pytestmark = pytest.mark.integration


def test_a_closed_app_has_closed_its_redis_connections(quiet_redis_url: str) -> None:
    """Left open, they would be closed by the garbage collector, with a ResourceWarning, in
    whichever later test it ran (the suite's filterwarnings=error fails that test)."""
    app = create_app({"redis_url": quiet_redis_url, "rate_limit": "100/second"})
    client = app.test_client()
    task_id = client.post("/add", json={"a": 1, "b": 2}).json["task_id"]
    assert client.get(f"/result/{task_id}?wait=0.1").json["status"] == "PENDING"
    assert client.get("/health").status_code == 200
    assert app.extensions[EXTENSION_KEY].workers.refreshing  # a thread asks the workers
    assert client.get("/schedules").status_code == 200
    celery = app.extensions["celery"]
    assert celery.backend.get_task_meta(task_id)["status"] == "PENDING"
    clients = {
        "the app's": app.extensions[EXTENSION_KEY].redis,
        "the schedule store's": app.extensions[STORE_KEY].client,
        "the result backend's": celery.backend.client,
    }
    connection_ids = {name: client.client_id() for name, client in clients.items()}

    close_app(app)

    observer = redis.Redis.from_url(quiet_redis_url)
    still_open = {int(entry["id"]) for entry in observer.client_list()}
    observer.close()
    assert {name: id_ in still_open for name, id_ in connection_ids.items()} == dict.fromkeys(
        connection_ids, False
    )
    assert not app.extensions[EXTENSION_KEY].workers.refreshing  # its thread has ended
