"""Every cloud's metadata service is refused as a webhook target, whatever the settings say."""

from __future__ import annotations

import ipaddress

import pytest

from webhooks_app.transport import TargetPolicy, check_url_literal

EVERYTHING_ALLOWED = TargetPolicy(allowed=(ipaddress.ip_network("0.0.0.0/0"),
                                           ipaddress.ip_network("::/0")))


@pytest.mark.parametrize(("address", "reason"), [
    ("192.0.0.192", "a cloud metadata address"),  # Oracle Cloud
    ("::ffff:192.0.0.192", "a cloud metadata address (IPv4-mapped 192.0.0.192)"),
    ("64:ff9b::c000:c0", "a cloud metadata address (embedded 192.0.0.192)"),
])
def test_the_oracle_cloud_metadata_address_is_always_refused(address: str, reason: str) -> None:
    assert TargetPolicy().refusal(address) == reason
    assert TargetPolicy(block_private=True).refusal(address) == reason
    assert EVERYTHING_ALLOWED.refusal(address) == reason


def test_a_url_naming_it_is_refused_at_config_time() -> None:
    assert (check_url_literal("http://192.0.0.192/opc/v2/instance/", TargetPolicy())
            == "192.0.0.192 is a cloud metadata address")


@pytest.mark.parametrize("address", ["192.0.0.191", "192.0.0.193", "192.0.2.192"])
def test_its_neighbours_are_not_metadata_addresses(address: str) -> None:
    assert TargetPolicy().refusal(address) is None
