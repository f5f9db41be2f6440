"""The neonize client's profile calls: what neonize has no call for is a 501 naming it, and
nothing reaches the Go library before the client is connected."""

from __future__ import annotations

import pytest

from sessions_app.engines.base import EngineError, EngineUnsupported, SessionSpec
from sessions_app.engines.neonize_engine import NeonizeClient
from waha_project.errors import status_of


def unconnected(engine, recorder) -> NeonizeClient:
    return NeonizeClient(engine, SessionSpec(name="profile", uid="uidprofile"), recorder)


async def test_deleting_the_picture_is_a_501_naming_what_neonize_cannot_do(
        neonize_engine, recorder):
    client = unconnected(neonize_engine, recorder)

    with pytest.raises(EngineUnsupported) as raised:
        await client.delete_profile_picture()

    assert raised.value.message == "The neonize engine cannot delete the profile picture"
    assert status_of(raised.value) == 501


@pytest.mark.parametrize(("call", "args"), [
    ("get_profile", ()), ("set_profile_name", ("A",)), ("set_profile_status", ("B",)),
    ("set_profile_picture", (b"\xff\xd8",)),
])
async def test_a_profile_call_needs_a_connected_client(neonize_engine, recorder, call, args):
    client = unconnected(neonize_engine, recorder)

    with pytest.raises(EngineError) as raised:
        await getattr(client, call)(*args)

    assert raised.value.message == "The session is not connected to WhatsApp"
    assert status_of(raised.value) == 422
