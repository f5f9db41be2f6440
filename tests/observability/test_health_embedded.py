"""/health on the embedded default checks the Celery worker running inside the process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import wait_for
from waha_project.celery import IN_PROCESS_WORKERS
from waha_project.embedded import EmbeddedWorker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(transactional_db: None) -> Iterator[EmbeddedWorker]:
    started = EmbeddedWorker(concurrency=1)
    started.start()
    yield started
    started.stop()
    # One that stopped on an error stays checked for the life of the process, by design;
    # this process goes on with other tests.
    IN_PROCESS_WORKERS.discard(started.controller)


async def health(api) -> dict:
    return (await api.get("/health")).json()


async def test_health_names_the_running_in_process_worker(api, runtime, worker):
    async def worker_up() -> bool:
        return "workers" in (await health(api))["info"]

    await wait_for(worker_up, message="the worker to run")

    response = await api.get("/health")

    assert response.status_code == 200
    assert response.json()["info"]["workers"] == {
        "status": "up", "workers": [worker.controller.hostname]}


async def test_health_answers_503_once_the_in_process_worker_stopped_on_an_error(
    api, runtime, worker
):
    async def worker_up() -> bool:
        return "workers" in (await health(api))["info"]

    await wait_for(worker_up, message="the worker to run")

    # What WorkController.start does when the worker fails: stop with a failure exit code.
    worker.controller.stop(exitcode=1)
    response = await api.get("/health")

    assert response.status_code == 503
    assert response.json()["error"] == {"workers": {
        "status": "down", "message": "the Celery worker of this process is not running"}}


async def test_a_worker_stopped_on_purpose_is_no_longer_checked(api, runtime, worker):
    worker.stop()

    response = await api.get("/health")

    assert response.status_code == 200
    assert "workers" not in response.json()["details"]
