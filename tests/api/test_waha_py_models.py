"""Every answer of the sessions, server and profile routes, and a `session.status` webhook body,
validated with the generated (pydantic) models of WAHA's published Python client, waha-py
2026.9.2, whose client also makes the requests (over the real ASGI app).

A few generated models contradict the payloads WAHA itself documents and sends. For those
fields only, the models are overridden below with the documented shape, each naming its source;
`test_the_generated_models_that_contradict_wahas_documented_payloads_still_do` shows each of
them refusing the documented payload, so the overrides go once waha-py is fixed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx
import pytest
from PIL import Image
from pydantic import TypeAdapter, ValidationError
from waha.client import AsyncWahaClient
from waha.generated import models
from waha.http import WahaHttpClient

from tests.support.receiver import Receiver, Reply
from waha_project import process
from waha_project.celery import app as celery_app
from waha_project.embedded import EmbeddedWorker

from ..conftest import API_KEY, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


# --- the documented shape where a generated model is wrong --------------------------------------
class DocumentedTimestamps(models.Timestamps):
    # WAHA's SessionInfo (src/structures/sessions.dto.ts): `activity: number | null`, null while
    # STOPPED; the generated model requires a number.
    activity: float | None


class DocumentedWebhookConfig(models.WebhookConfig):
    # WAHA's WebhookConfig.events is a list of event names ("message", "session.status"), as
    # the generated model's own example shows; the model says a list of objects.
    events: list[str]


class DocumentedSessionConfig(models.SessionConfig):
    webhooks: list[DocumentedWebhookConfig] | None = None


class DocumentedSessionDTO(models.SessionDTO):
    config: DocumentedSessionConfig | None = None


class DocumentedSessionInfo(models.SessionInfo):
    # WAHA's SessionInfo: `presence: 'online' | 'offline' | null`; the generated model requires
    # an object.
    presence: Literal["online", "offline"] | None
    timestamps: DocumentedTimestamps
    config: DocumentedSessionConfig | None = None


class DocumentedEnvironment(models.WAHAEnvironment):
    # WAHA answers `"browser": null` for engines without a browser (GOWS, NOWEB: e.g. a GOWS
    # 2026.1.3 webhook's environment); the generated model requires a string.
    browser: str | None


class DocumentedMyProfile(models.MyProfile):
    # WAHA's MyProfile (src/structures/profile.dto.ts): `picture: string | null`, and its
    # controller answers `picture || null`; the generated model requires a string.
    picture: str | None


class DocumentedWebhookSessionStatus(models.WAHAWebhookSessionStatus):
    # WAHA sends `"event": "session.status"` (its docs' session.status example); the generated
    # model says an object.
    event: Literal["session.status"]
    environment: DocumentedEnvironment


ENVIRONMENT = TypeAdapter(dict[str, str])  # WAHA documents `object`: variable name to value


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
async def waha(transactional_db: None) -> AsyncIterator[AsyncWahaClient]:
    """waha-py's own client, speaking to the real ASGI application."""
    from waha_project.asgi import application

    base_url = "http://testserver"
    async_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url=base_url, timeout=30,
        headers={"X-Api-Key": API_KEY, "Accept": "application/json"})
    http = WahaHttpClient(base_url=base_url, api_key=API_KEY, async_client=async_client)
    yield AsyncWahaClient(base_url, http_client=http)
    await http.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture
def worker(transactional_db: None) -> Iterator[EmbeddedWorker]:
    """A real Celery worker on a thread, on an emptied in-memory broker."""
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(celery_app.conf.task_default_queue)
    started = EmbeddedWorker(concurrency=2)
    started.start()
    yield started
    started.stop()


def png_base64() -> str:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), "blue").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def session_answer(answer: Any) -> DocumentedSessionInfo:
    """A session answer: WAHA's SessionDTO, and the SessionInfo API.md promises."""
    DocumentedSessionDTO.model_validate(answer)
    return DocumentedSessionInfo.model_validate(answer)


async def pair(api: httpx.AsyncClient, engine: Any, name: str) -> None:
    await wait_status(api, name, "SCAN_QR_CODE")
    engine.pair(name)
    await wait_status(api, name, "WORKING")


# --- the routes -----------------------------------------------------------------------------------
async def test_every_sessions_answer_validates(waha, api, runtime, engine):
    config = models.SessionConfig(
        metadata={"user.id": "123"}, debug=False,
        client=models.ClientSessionConfig(deviceName="Shop", browserName="Chrome"),
        ignore=models.IgnoreConfig(status=True),
        noweb=models.NowebConfig(markOnline=True,
                                 store=models.NowebStoreConfig(enabled=True, fullSync=False)),
    )
    created = session_answer(await waha.sessions.a_create(
        models.SessionCreateRequest(name="alpha", start=False, config=config)))
    assert (created.status, created.presence, created.timestamps.activity) == (
        models.Status.STOPPED, None, None)
    assert created.config is not None and created.config.noweb is not None
    assert created.config.noweb.markOnline is True

    listed = TypeAdapter(list[DocumentedSessionInfo]).validate_python(
        await waha.sessions.a_list(params={"all": "true"}))
    assert [info.name for info in listed] == ["alpha"]

    hooked = {"webhooks": [{"url": "https://example.com/hook", "events": ["session.status"]}],
              "noweb": {"markOnline": False}}
    updated = session_answer(await waha.sessions.a_update("alpha", {"config": hooked}))
    assert updated.config is not None and updated.config.noweb is not None
    assert updated.config.noweb.markOnline is False

    started = session_answer(await waha.sessions.a_start("alpha"))
    assert started.status == models.Status.STARTING
    await pair(api, engine, "alpha")
    working = session_answer(await waha.sessions.a_get("alpha"))
    assert (working.status, working.presence, working.assignedWorker) == (
        models.Status.WORKING, "online", "test-engine-1")
    assert working.me is not None and working.timestamps.activity is not None
    me = models.MeInfo.model_validate(await waha.sessions.a_get_me("alpha"))
    assert me.id == working.me.id

    session_answer(await waha.sessions.a_restart("alpha"))
    await wait_status(api, "alpha", "WORKING")
    session_answer(await waha.sessions.a_stop("alpha"))
    TypeAdapter(models.MeInfo | None).validate_python(await waha.sessions.a_get_me("alpha"))
    session_answer(await waha.sessions.a_logout("alpha", {}))
    legacy = await api.post("/api/sessions/start", json={"name": "legacy"})
    session_answer(legacy.json())

    assert await waha.sessions.a_delete("alpha") == ""
    assert (await api.get("/api/sessions/alpha")).status_code == 404


async def test_every_server_answer_validates(waha, runtime, monkeypatch):
    version = DocumentedEnvironment.model_validate(await waha.server.a_get())
    assert version.engine == "GOWS"
    status = models.ServerStatusResponse.model_validate(await waha.server.a_status())
    assert status.worker.id
    ENVIRONMENT.validate_python(await waha.server.a_environment())
    ENVIRONMENT.validate_python(await waha.server.a_environment(params={"all": "true"}))

    stops: list[bool] = []  # this process runs the tests: the real stop is in tests/e2e
    monkeypatch.setattr(process, "stop_soon", lambda force: stops.append(force))
    stopping = models.StopResponse.model_validate(
        await waha.server.a_stop(models.StopRequest(force=False)))
    assert stopping.stopping is True
    assert stops == [False]


async def test_every_profile_answer_validates(waha, api, runtime, engine, receiver):
    await waha.sessions.a_create({"name": "alpha"})
    await pair(api, engine, "alpha")

    profile = DocumentedMyProfile.model_validate(await waha.profile.a_get_my_profile("alpha"))
    assert profile.picture is None

    def result(answer: Any) -> None:
        assert models.Result.model_validate(answer).success is True

    result(await waha.profile.a_set_profile_name(
        "alpha", models.ProfileNameRequest(name="Shop Bot")))
    result(await waha.profile.a_set_profile_status(
        "alpha", models.ProfileStatusRequest(status="Open 9 to 5")))
    result(await waha.profile.a_set_profile_picture("alpha", models.ProfilePictureRequest(
        file=models.BinaryFile(mimetype="image/png", filename="me.png", data=png_base64()))))
    pictured = models.MyProfile.model_validate(await waha.profile.a_get_my_profile("alpha"))
    assert (pictured.name, pictured.picture.startswith("https://")) == ("Shop Bot", True)

    receiver.reply_with(Reply(200, body=base64.b64decode(png_base64())))
    result(await waha.profile.a_set_profile_picture("alpha", models.ProfilePictureRequest(
        file=models.RemoteFile(mimetype="image/png", url=receiver.url("/me.png")))))
    result(await waha.profile.a_delete_profile_picture("alpha"))
    assert DocumentedMyProfile.model_validate(
        await waha.profile.a_get_my_profile("alpha")).picture is None


async def test_a_session_status_webhook_body_validates(waha, api, runtime, engine, receiver,
                                                       worker):
    await waha.sessions.a_create({"name": "alpha", "config": {
        "metadata": {"user.id": "123"},
        "webhooks": [{"url": receiver.url(), "events": ["session.status"]}]}})
    await pair(api, engine, "alpha")

    # STARTING, SCAN_QR_CODE, WORKING: one delivery each, in any order of arrival.
    events = [DocumentedWebhookSessionStatus.model_validate_json(request.body)
              for request in receiver.wait_for(3, timeout=15)]
    by_status = {event.payload.status: event for event in events}
    assert set(by_status) == {models.Status.STARTING, models.Status.SCAN_QR_CODE,
                              models.Status.WORKING}
    working = by_status[models.Status.WORKING]
    assert working.me is not None and working.environment.worker.id
    assert working.metadata == {"user.id": "123"}
    assert by_status[models.Status.STARTING].me is None


# --- where waha-py itself is wrong ----------------------------------------------------------------
def test_the_generated_models_that_contradict_wahas_documented_payloads_still_do():
    stopped = {"name": "alpha", "status": "STOPPED", "config": None, "me": None,
               "assignedWorker": None, "presence": None, "timestamps": {"activity": None}}
    environment = {"version": "2026.9.2", "engine": "GOWS", "tier": "CORE", "browser": None,
                   "platform": "linux/x64", "worker": {"id": "waha"}}
    refused = [
        (models.SessionInfo, stopped),
        (models.WebhookConfig, {"url": "https://example.com", "events": ["message"]}),
        (models.WAHAEnvironment, environment),
        (models.MyProfile, {"id": "1@c.us", "name": "A", "picture": None}),
        (models.WAHAWebhookSessionStatus, {
            "id": "evt_01aaaaaaaaaaaaaaaaaaaaaaaa", "timestamp": 1, "session": "alpha",
            "metadata": None, "engine": "GOWS", "event": "session.status", "me": None,
            "environment": {**environment, "browser": "chrome"},
            "payload": {"name": "alpha", "status": "STOPPED", "statuses": [], "data": None}}),
    ]
    for model, documented in refused:
        with pytest.raises(ValidationError):
            model.model_validate(documented)
