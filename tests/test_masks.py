"""The one mask: a URL's password hidden wherever it is shown, and given back by the form."""

from __future__ import annotations

import pytest

from waha_project.masks import MASK, mask, masked_url, masked_urls_in, unmasked_url


@pytest.mark.parametrize(("url", "shown"), [
    ("https://bob:s3cret@hooks.example.com/x?y=1", f"https://bob:{MASK}@hooks.example.com/x?y=1"),
    ("http://bob:@127.0.0.1:8080/hook", f"http://bob:{MASK}@127.0.0.1:8080/hook"),
    ("http://token@127.0.0.1:8080/hook", f"http://{MASK}@127.0.0.1:8080/hook"),
    ("https://a:b@c@hooks.example.com/", f"https://a:{MASK}@hooks.example.com/"),
    ("https://bob:pw@[::1]:8443/x#f", f"https://bob:{MASK}@[::1]:8443/x#f"),
    ("https://bob:pw@[not-an-ip/x", f"https://bob:{MASK}@[not-an-ip/x"),
    ("https://hooks.example.com/a@b?c=d@e", "https://hooks.example.com/a@b?c=d@e"),
    ("https://hooks.example.com", "https://hooks.example.com"),
    ("not a url", "not a url"),
])
def test_a_url_is_shown_with_its_password_masked(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_a_set_secret_is_masked_and_an_unset_one_is_a_dash() -> None:
    assert (mask("k"), mask(""), mask(None)) == (MASK, "-", "-")


SAVED = "https://bob:s3cret@hooks.example.com/in"


@pytest.mark.parametrize(("posted", "saved", "kept"), [
    (masked_url(SAVED), SAVED, SAVED),
    (f"https://bob:{MASK}@other.example.com/new", SAVED, "https://bob:s3cret@other.example.com/new"),
    (f"https://ann:{MASK}@hooks.example.com/in", SAVED, "https://ann:s3cret@hooks.example.com/in"),
    (f"https://{MASK}@hooks.example.com/in", SAVED, SAVED),
    (f"https://{MASK}@h.example.com/", "https://tok@h.example.com/", "https://tok@h.example.com/"),
    ("https://bob:typed@hooks.example.com/in", SAVED, "https://bob:typed@hooks.example.com/in"),
    ("https://hooks.example.com/in", SAVED, "https://hooks.example.com/in"),
    (f"https://bob:{MASK}@hooks.example.com/in", None, f"https://bob:{MASK}@hooks.example.com/in"),
    (f"https://bob:{MASK}@h.example.com/", "https://h.example.com/",
     f"https://bob:{MASK}@h.example.com/"),
])
def test_a_posted_mask_stands_for_the_saved_credentials(posted: str, saved: str | None,
                                                         kept: str) -> None:
    assert unmasked_url(posted, saved) == kept


def test_every_url_in_a_text_has_its_password_masked() -> None:
    text = "message evt_1 → https://bob:pw@a.example.com/x (failed), then http://tok@b:81/ ok"

    assert masked_urls_in(text) == (f"message evt_1 → https://bob:{MASK}@a.example.com/x "
                                    f"(failed), then http://{MASK}@b:81/ ok")
    assert masked_urls_in("no url here: a@b") == "no url here: a@b"
