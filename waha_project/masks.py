"""How a secret is shown: the one mask, for every page and answer that shows one.

Secrets are kept whole where they are used (a webhook is sent to its URL with its password);
wherever they are shown (the admin, the dashboard, the deliveries API) they go through here.
A form that shows a masked URL gets it back with the saved credentials (`unmasked_url`).
"""

from __future__ import annotations

import re

MASK = "••••••"

# scheme://authority...: the authority runs to the first "/", "?" or "#" (as urlsplit reads
# it), and its user information is what comes before its last "@". Matched on the text, so
# a URL no parser accepts is masked all the same.
_URL_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^/?#]*)(?P<rest>.*)$",
                     re.DOTALL)


def mask(value: object) -> str:
    """The mask for a set secret, a dash for an unset one: staff can tell which is which."""
    return MASK if value else "-"


def _split(url: str) -> tuple[str, str | None, str, str]:
    """(scheme://, user information or None, host[:port], the rest)."""
    match = _URL_RE.match(url)
    if match is None:
        return "", None, url, ""
    authority = match["authority"]
    userinfo, at, host = authority.rpartition("@")
    return match["scheme"], userinfo if at else None, host, match["rest"]


def _mask_userinfo(userinfo: str) -> str:
    # `user:password` keeps its user; a lone `token@` is itself the secret.
    user, colon, _ = userinfo.partition(":")
    return f"{user}:{MASK}" if colon else MASK


def masked_url(url: str) -> str:
    """The URL with its password masked: `https://bob:s3cret@host/x` → `https://bob:••••••@host/x`,
    and a user name alone (often a token) masked whole: `https://tok@host/` → `https://••••••@host/`.
    A URL without credentials is shown as it is."""
    scheme, userinfo, host, rest = _split(url)
    if userinfo is None:
        return url
    return f"{scheme}{_mask_userinfo(userinfo)}@{host}{rest}"


_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]*")


def masked_urls_in(text: str) -> str:
    """Free text (a row's name, a message) with the password of every URL in it masked."""
    return _URL_IN_TEXT_RE.sub(lambda match: masked_url(match.group(0)), text)


def unmasked_url(shown: str, saved: str | None) -> str:
    """A URL posted from a form that showed `masked_url(saved)`: a masked password (or masked
    user information) stands for the saved one, so editing the rest of the URL keeps it."""
    scheme, userinfo, host, rest = _split(shown)
    if userinfo is None or MASK not in userinfo or not saved:
        return shown
    _, saved_userinfo, _, _ = _split(saved)
    if saved_userinfo is None:
        return shown
    if userinfo == MASK:
        return f"{scheme}{saved_userinfo}@{host}{rest}"
    user, colon, password = userinfo.partition(":")
    _, saved_colon, saved_password = saved_userinfo.partition(":")
    if colon and password == MASK and saved_colon:
        return f"{scheme}{user}:{saved_password}@{host}{rest}"
    return shown
