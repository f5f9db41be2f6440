"""The profile of a session's account, through the engine that runs it (the fake engine keeps
it as WhatsApp's servers do): read it, set its name, About text and picture, delete the
picture."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from sessions_app import pictures
from sessions_app.engines.base import EngineClient
from sessions_app.engines.fake import DEFAULT_ABOUT, FakeClient, FakeEngine
from tests.support.receiver import Receiver, Reply

from ..conftest import wait_status

pytestmark = pytest.mark.django_db(transaction=True)

NOT_WORKING = "Session status is not as expected. The current status is {}, expected WORKING"


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (1000, 700),
                color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if kind == "PNG" else "RGB", size, color).save(out, kind)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture
async def working(api, runtime, engine: FakeEngine) -> str:
    """A WORKING session's account id."""
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    me: str = (await wait_status(api, "alpha", "WORKING"))["me"]["id"]
    return me


async def test_the_profile_is_the_linked_accounts(api, working):
    response = await api.get("/api/alpha/profile")

    assert response.status_code == 200
    assert response.json() == {"id": working, "name": "Fake User", "status": DEFAULT_ABOUT,
                               "picture": None}


async def test_a_name_set_is_the_name_read_back(api, working):
    response = await api.put("/api/alpha/profile/name", json={"name": "Shop Bot"})

    assert response.status_code == 201
    assert response.json() == {"success": True}
    assert (await api.get("/api/alpha/profile")).json()["name"] == "Shop Bot"


async def test_a_status_set_is_the_about_text_read_back(api, working):
    response = await api.put("/api/alpha/profile/status", json={"status": "Open 9 to 5 🎉"})

    assert response.status_code == 201
    assert response.json() == {"success": True}
    assert (await api.get("/api/alpha/profile")).json()["status"] == "Open 9 to 5 🎉"


async def test_a_base64_picture_reaches_whatsapp_as_a_square_jpeg(api, working, engine):
    picture = image_bytes("PNG", (1000, 700))

    response = await api.put("/api/alpha/profile/picture",
                             json={"file": {"mimetype": "image/png", "filename": "a.png",
                                            "data": b64(picture)}})

    assert response.status_code == 201, response.json()
    assert response.json() == {"success": True}
    sent = engine.picture_of(working)
    assert sent is not None
    shown = Image.open(io.BytesIO(sent))
    assert (shown.format, shown.size, shown.mode) == ("JPEG", (640, 640), "RGB")
    url = (await api.get("/api/alpha/profile")).json()["picture"]
    assert url.startswith("https://pps.whatsapp.net/")


async def test_a_small_picture_is_cropped_square_and_not_enlarged(api, working, engine):
    picture = image_bytes("JPEG", (300, 200))

    response = await api.put("/api/alpha/profile/picture",
                             json={"file": {"mimetype": "image/jpeg", "data": b64(picture)}})

    assert response.status_code == 201, response.json()
    assert Image.open(io.BytesIO(engine.picture_of(working) or b"")).size == (200, 200)


async def test_a_picture_url_is_fetched_and_sent(api, working, engine, receiver):
    receiver.reply_with(Reply(200, headers={"Content-Type": "image/webp"},
                              body=image_bytes("WEBP", (800, 800))))

    response = await api.put("/api/alpha/profile/picture",
                             json={"file": {"url": receiver.url("/me.webp")}})

    assert response.status_code == 201, response.json()
    [request] = receiver.requests
    assert (request.method, request.path) == ("GET", "/me.webp")
    assert Image.open(io.BytesIO(engine.picture_of(working) or b"")).size == (640, 640)


async def test_the_picture_can_be_deleted(api, working, engine):
    await api.put("/api/alpha/profile/picture",
                  json={"file": {"mimetype": "image/png", "data": b64(image_bytes())}})

    response = await api.delete("/api/alpha/profile/picture")

    assert response.status_code == 201
    assert response.json() == {"success": True}
    assert (await api.get("/api/alpha/profile")).json()["picture"] is None
    assert engine.picture_of(working) is None


async def test_the_profile_outlives_a_restart_of_the_session(api, working):
    await api.put("/api/alpha/profile/name", json={"name": "Kept"})

    await api.post("/api/sessions/alpha/restart")
    await wait_status(api, "alpha", "WORKING")

    assert (await api.get("/api/alpha/profile")).json()["name"] == "Kept"


# --- what is refused ------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "body", "message"), [
    ("name", {}, "name: This field is required."),
    ("name", {"name": ""}, "name: This field may not be blank."),
    ("name", {"name": "   "}, "name: This field may not be blank."),
    ("name", {"name": 7}, "name: must be a string"),
    ("name", {"name": "x" * 26}, "name: Ensure this field has no more than 25 characters."),
    ("status", {"status": None}, "status: This field may not be null."),
    ("status", {"status": "x" * 140},
     "status: Ensure this field has no more than 139 characters."),
    ("picture", {}, "file: This field is required."),
    ("picture", {"file": {}}, "file: give either data (base64) or url"),
    ("picture", {"file": {"mimetype": "image/png", "data": "aGk=", "url": "http://x.org/a"}},
     "file: give either data (base64) or url"),
    ("picture", {"file": {"data": "aGk="}}, "file.mimetype: is required with data"),
    ("picture", {"file": {"mimetype": "image/gif", "data": "aGk="}},
     'file.mimetype: "image/gif" is not a valid choice.'),
    ("picture", {"file": {"mimetype": "image/png", "data": "not base64!"}},
     "file.data: is not base64"),
    ("picture", {"file": {"mimetype": "image/png", "data": b64(b"plain text, no image")}},
     "file.data: is not a JPEG, PNG or WebP image"),
    ("picture", {"file": {"mimetype": "image/png", "data": b64(image_bytes("GIF"))}},
     "file.data: is a GIF image, not a JPEG, PNG or WebP one"),
    ("picture", {"file": {"mimetype": "image/jpeg", "data": b64(image_bytes("PNG"))}},
     "file.mimetype: says image/jpeg but the picture is a PNG image"),
    ("picture", {"file": {"mimetype": "image/png", "data": b64(image_bytes("PNG")[:200])}},
     "file.data: is a damaged or cut-off image"),
    ("picture", {"file": {"url": "ftp://example.com/a.png"}},
     "file.url: must be an http or https URL"),
    ("picture", {"file": {"url": "not a url"}}, "file.url: Enter a valid URL."),
    ("picture", {"file": {"url": "http://169.254.169.254/latest/meta-data"}},
     "file.url: may not be fetched: 169.254.169.254 is a cloud metadata address"),
])
async def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    api, working, engine, path, body, message
):
    before = (await api.get("/api/alpha/profile")).json()

    response = await api.put(f"/api/alpha/profile/{path}", json=body)

    assert response.status_code == 400, response.json()
    assert response.json()["message"] == [message]
    assert (await api.get("/api/alpha/profile")).json() == before
    assert engine.picture_of(working) is None


async def test_a_picture_too_large_is_refused_before_it_is_read_whole(api, working, monkeypatch):
    monkeypatch.setattr(pictures, "MAX_BYTES", 10_000)
    picture = image_bytes("PNG", (10, 10)) + b"\0" * 10_000

    response = await api.put("/api/alpha/profile/picture",
                             json={"file": {"mimetype": "image/png", "data": b64(picture)}})

    assert response.status_code == 400
    assert response.json()["message"] == ["file.data: is larger than 10000 bytes"]


async def test_a_picture_of_too_many_pixels_is_refused(api, working, monkeypatch):
    monkeypatch.setattr(pictures, "MAX_PIXELS", 100 * 100)

    response = await api.put("/api/alpha/profile/picture", json={"file": {
        "mimetype": "image/png", "data": b64(image_bytes("PNG", (101, 100)))}})

    assert response.status_code == 400
    assert response.json()["message"] == ["file.data: is 101x100 pixels, more than 10000"]


@pytest.mark.parametrize(("reply", "message"), [
    (Reply(404, body=b"no"), "file.url: answered 404 Not Found, not 200"),
    (Reply(302, headers={"Location": "http://169.254.169.254/"}),
     "file.url: answered 302 Found, not 200"),
    (Reply(200, body=b"<html>not a picture</html>"),
     "file.url: is not a JPEG, PNG or WebP image"),
])
async def test_a_picture_url_that_gives_no_picture_is_a_400(
    api, working, engine, receiver, reply, message
):
    receiver.reply_with(reply)

    response = await api.put("/api/alpha/profile/picture",
                             json={"file": {"url": receiver.url("/p.png")}})

    assert response.status_code == 400
    assert response.json()["message"] == [message]
    assert receiver.count == 1
    assert engine.picture_of(working) is None


async def test_a_picture_url_larger_than_the_limit_is_cut_off(api, working, receiver,
                                                               monkeypatch):
    monkeypatch.setattr(pictures, "MAX_BYTES", 10_000)
    receiver.reply_with(Reply(200, body=b"x" * 50_000, endless=True))

    response = await api.put("/api/alpha/profile/picture",
                             json={"file": {"url": receiver.url("/big.png")}})

    assert response.status_code == 400
    assert response.json()["message"] == ["file.url: is larger than 10000 bytes"]


async def test_a_picture_url_on_a_refused_network_is_never_contacted(api, working, receiver,
                                                                      settings):
    settings.WEBHOOK_BLOCK_PRIVATE_NETWORKS = True

    by_ip = await api.put("/api/alpha/profile/picture",
                          json={"file": {"url": receiver.url("/p.png")}})
    by_name = await api.put("/api/alpha/profile/picture",
                            json={"file": {"url": receiver.url("/p.png", host="localhost")}})

    assert by_ip.status_code == by_name.status_code == 400
    assert by_ip.json()["message"] == [
        "file.url: may not be fetched: 127.0.0.1 is a loopback address"]
    [reason] = by_name.json()["message"]
    assert reason.startswith("file.url: could not be fetched: ")
    assert "is a loopback address" in reason
    assert receiver.count == 0


# --- when the session or its engine cannot --------------------------------------------------------
async def test_an_unknown_session_is_a_404(api, runtime):
    response = await api.get("/api/nobody/profile")

    assert response.status_code == 404
    assert response.json()["message"] == "Session not found"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "profile", None), ("PUT", "profile/name", {"name": "A"}),
    ("PUT", "profile/status", {"status": "B"}), ("DELETE", "profile/picture", None),
    ("PUT", "profile/picture", {"file": {"url": "http://127.0.0.1:9/never-fetched.png"}}),
])
async def test_a_session_that_is_not_working_is_a_422(api, runtime, method, path, body):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.request(method, f"/api/alpha/{path}", json=body)

    assert response.status_code == 422
    assert response.json()["message"] == NOT_WORKING.format("SCAN_QR_CODE")


async def test_what_the_engine_cannot_do_is_a_501_naming_it(api, working, monkeypatch):
    monkeypatch.setattr(FakeClient, "delete_profile_picture",
                        EngineClient.delete_profile_picture)

    response = await api.delete("/api/alpha/profile/picture")

    assert response.status_code == 501
    assert response.json() == {"statusCode": 501, "error": "Not Implemented",
                               "message": "The fake engine cannot delete the profile picture"}
