"""Authentication of a session: the QR code in its three forms, its waits and rotation, and
pairing by code."""

from __future__ import annotations

import asyncio
import base64
import re
from io import BytesIO

import pytest
from PIL import Image

from sessions_app.engines.fake import QR_EXPIRED
from sessions_app.models import Session
from sessions_app.qr import png as qr_png

from ..conftest import wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)

NOT_AS_EXPECTED = "Session status is not as expected. Try again later or restart the session"


@pytest.fixture(autouse=True)
def codes_outlive_the_test(fast_qr):
    """One QR code for the whole test, unless a test is about rotation or expiry."""
    fast_qr.QR_FIRST_SECONDS = 30


async def raw_qr(api, name: str) -> str:
    response = await api.get(f"/api/{name}/auth/qr", params={"format": "raw"})
    assert response.status_code == 200, response.json()
    return response.json()["value"]


# --- GET /api/{session}/auth/qr ------------------------------------------------------------------
async def test_the_qr_code_is_a_png_by_default(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.get("/api/alpha/auth/qr")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    assert Image.open(BytesIO(response.content)).format == "PNG"
    assert response.content == qr_png(await raw_qr(api, "alpha"))


async def test_format_image_is_the_same_png(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.get("/api/alpha/auth/qr", params={"format": "image"})

    assert response.status_code == 200
    assert response.content == qr_png(await raw_qr(api, "alpha"))


async def test_the_qr_code_is_base64_json_when_json_is_accepted(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.get("/api/alpha/auth/qr", headers={"Accept": "application/json"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"mimetype", "data"}
    assert body["mimetype"] == "image/png"
    png = base64.b64decode(body["data"], validate=True)
    assert png.startswith(b"\x89PNG")
    assert png == qr_png(await raw_qr(api, "alpha"))


@pytest.mark.parametrize("accept", ["image/png", "*/*", "image/*", "text/html"])
async def test_the_png_is_served_whatever_non_json_type_is_accepted(api, runtime, engine, accept):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.get("/api/alpha/auth/qr", headers={"Accept": accept})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == qr_png(await raw_qr(api, "alpha"))


async def test_format_raw_gives_the_value_of_the_current_code(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.get("/api/alpha/auth/qr", params={"format": "raw"})

    assert response.status_code == 200
    assert set(response.json()) == {"value"}
    value = response.json()["value"]
    assert value.startswith("2@")
    assert value == (await Session.objects.aget(name="alpha")).qr_value


async def test_an_unknown_format_answers_400(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha"})

    response = await api.get("/api/alpha/auth/qr", params={"format": "svg"})

    assert response.status_code == 400
    assert response.json()["message"] == ["format: must be image or raw"]


async def test_the_qr_code_of_an_unknown_session_answers_404(api):
    response = await api.get("/api/ghost/auth/qr")

    assert response.status_code == 404
    assert response.json()["message"] == "Session not found"


async def test_a_session_started_just_before_gets_its_qr_code(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha"})

    response = await api.get("/api/alpha/auth/qr")

    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")


async def test_a_session_started_while_the_call_waits_gets_its_qr_code(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})
    waiting = asyncio.create_task(api.get("/api/alpha/auth/qr", params={"format": "raw"}))
    await asyncio.sleep(0.3)

    await api.post("/api/sessions/alpha/start")
    response = await waiting

    assert response.status_code == 200
    assert response.json()["value"].startswith("2@")


async def test_a_stopped_session_answers_422_after_the_wait(api, runtime, settings):
    settings.QR_WAIT_RUNNING_SECONDS = 0.2
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.get("/api/alpha/auth/qr")

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "error": NOT_AS_EXPECTED,
        "message": NOT_AS_EXPECTED,
        "session": "alpha",
        "status": "STOPPED",
        "expected": ["SCAN_QR_CODE"],
    }


async def test_the_422_is_json_even_when_a_png_was_asked_for(api, runtime, settings):
    settings.QR_WAIT_RUNNING_SECONDS = 0.2
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.get("/api/alpha/auth/qr", headers={"Accept": "image/png"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "STOPPED"


async def test_a_working_session_answers_422_after_the_wait(api, runtime, engine, settings):
    settings.QR_WAIT_SCAN_SECONDS = 0.2
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")

    response = await api.get("/api/alpha/auth/qr", headers={"Accept": "application/json"})

    assert response.status_code == 422
    body = response.json()
    assert (body["error"], body["session"], body["status"], body["expected"]) == (
        NOT_AS_EXPECTED, "alpha", "WORKING", ["SCAN_QR_CODE"])


async def test_the_qr_code_rotates(api, runtime, engine):
    engine.qr_first, engine.qr_next, engine.qr_codes = 0.5, 0.3, 6
    await api.post("/api/sessions", json={"name": "alpha"})
    first = await raw_qr(api, "alpha")
    seen = [first]

    async def rotated() -> bool:
        value = await raw_qr(api, "alpha")
        if value != seen[-1]:
            seen.append(value)
        return len(seen) == 3

    await wait_for(rotated, timeout=3, message="two new QR codes")
    assert len(set(seen)) == 3
    assert all(value.startswith("2@") for value in seen)


async def test_the_session_fails_when_the_codes_run_out(api, runtime, engine, settings):
    settings.QR_WAIT_SCAN_SECONDS = 0.2
    engine.qr_first, engine.qr_next = 0.1, 0.05  # run out of codes quickly
    await api.post("/api/sessions", json={"name": "alpha"})

    body = await wait_status(api, "alpha", "FAILED")

    assert body["engine"]["lastError"] == QR_EXPIRED
    assert body["engine"]["state"] == "FAILED"
    response = await api.get("/api/alpha/auth/qr")
    assert response.status_code == 422
    assert response.json()["status"] == "FAILED"
    await runtime.reconcile_all()
    assert engine.started["alpha"] == 1
    assert (await api.get("/api/sessions/alpha")).json()["engine"]["lastError"] == QR_EXPIRED


async def test_a_failed_session_can_be_started_again(api, runtime, engine):
    engine.qr_first, engine.qr_next = 0.1, 0.05  # run out of codes quickly
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "FAILED")

    response = await api.post("/api/sessions/alpha/start")

    assert response.status_code == 201
    assert response.json()["status"] == "STARTING"
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert engine.started["alpha"] == 2


# --- POST /api/{session}/auth/request-code --------------------------------------------------------
async def test_request_code_answers_a_code_and_pairs_that_phone(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.post("/api/alpha/auth/request-code",
                              json={"phoneNumber": "12132132130", "method": None})

    assert response.status_code == 201
    assert set(response.json()) == {"code"}
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", response.json()["code"])
    engine.pair("alpha")
    body = await wait_status(api, "alpha", "WORKING")
    assert body["me"]["id"] == "12132132130@c.us"


async def test_request_code_strips_a_leading_plus(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.post("/api/alpha/auth/request-code",
                              json={"phoneNumber": "+4915112345678"})

    assert response.status_code == 201
    engine.pair("alpha")
    body = await wait_status(api, "alpha", "WORKING")
    assert body["me"]["id"] == "4915112345678@c.us"


@pytest.mark.parametrize(("phone", "message"), [
    ("1213213213a", "phoneNumber: must contain digits only, e.g. 12132132130"),
    ("+1 213 213 2130", "phoneNumber: must contain digits only, e.g. 12132132130"),
    ("++12132132130", "phoneNumber: must contain digits only, e.g. 12132132130"),
    ("١٢١٣٢١٣٢١٣٠", "phoneNumber: must contain digits only, e.g. 12132132130"),
    ("012132132130", "phoneNumber: must be in international form with the country code, "
                     "without a leading 0"),
    ("12345", "phoneNumber: must be 7 to 15 digits long"),
    ("1234567890123456", "phoneNumber: must be 7 to 15 digits long"),
    ("", "phoneNumber: This field may not be blank."),
    (12132132130, "phoneNumber: must be a string"),
    (None, "phoneNumber: This field may not be null."),
])
async def test_request_code_refuses_a_bad_phone_number(api, runtime, phone, message):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.post("/api/alpha/auth/request-code", json={"phoneNumber": phone})

    assert response.status_code == 400
    assert response.json()["message"] == [message]


async def test_request_code_without_a_phone_number_answers_400(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha"})

    response = await api.post("/api/alpha/auth/request-code", json={"method": None})

    assert response.status_code == 400
    assert response.json()["message"] == ["phoneNumber: This field is required."]


async def test_request_code_of_a_working_session_answers_422(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")

    response = await api.post("/api/alpha/auth/request-code",
                              json={"phoneNumber": "12132132130"})

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": "Can request code only in SCAN_QR_CODE status. "
                   "The current status is WORKING",
        "error": "Unprocessable Entity",
    }


async def test_request_code_of_a_stopped_session_answers_422(api):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.post("/api/alpha/auth/request-code",
                              json={"phoneNumber": "12132132130"})

    assert response.status_code == 422
    assert response.json()["message"] == (
        "Can request code only in SCAN_QR_CODE status. The current status is STOPPED"
    )


async def test_request_code_of_a_failed_session_answers_422(api, runtime, engine):
    engine.qr_first, engine.qr_next = 0.1, 0.05  # run out of codes quickly
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "FAILED")

    response = await api.post("/api/alpha/auth/request-code",
                              json={"phoneNumber": "12132132130"})

    assert response.status_code == 422
    assert response.json()["message"] == (
        "Can request code only in SCAN_QR_CODE status. The current status is FAILED"
    )


async def test_request_code_when_no_engine_runs_the_session_answers_503(api):
    await api.post("/api/sessions", json={"name": "alpha"})

    response = await api.post("/api/alpha/auth/request-code",
                              json={"phoneNumber": "12132132130"})

    assert response.status_code == 503
    assert response.json() == {
        "statusCode": 503,
        "message": "No engine runs this session right now. Try again later.",
        "error": "Service Unavailable",
    }


async def test_request_code_of_an_unknown_session_answers_404(api):
    response = await api.post("/api/ghost/auth/request-code",
                              json={"phoneNumber": "12132132130"})

    assert response.status_code == 404
    assert response.json()["message"] == "Session not found"
