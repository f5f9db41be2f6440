from __future__ import annotations

import pytest

from .conftest import wait_status


@pytest.mark.django_db(transaction=True)
async def test_a_session_goes_from_qr_to_working_when_paired(api, runtime, engine):
    created = await api.post("/api/sessions", json={"name": "alpha"})
    assert created.status_code == 201
    assert created.json()["status"] == "STARTING"
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    info = await wait_status(api, "alpha", "WORKING")
    assert info["me"]["id"].endswith("@c.us")


@pytest.mark.django_db(transaction=True)
async def test_qr_codes_running_out_fail_the_session(api, runtime):
    await api.post("/api/sessions", json={"name": "beta"})
    info = await wait_status(api, "beta", "FAILED", timeout=5)
    assert "QR" in info["engine"]["lastError"]
