"""A web chat conversation's token: the visitor's secret, kept by their page (the
widget's storage, an HttpOnly cookie on /chat/). The conversation's name on the record
is derived from it, so the token itself is stored nowhere and one conversation's name
does not open it."""

from __future__ import annotations

import hashlib
import re
import secrets

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def conversation_of(token: str | None) -> str | None:
    """The conversation a token opens; None for what is not a token."""
    if not token or not _TOKEN.fullmatch(token):
        return None
    return "w" + hashlib.sha256(token.encode()).hexdigest()[:31]


def valid_message_id(value: object) -> bool:
    """The page's own id for a message it sends (a retry sends the same one)."""
    return isinstance(value, str) and bool(_MESSAGE_ID.fullmatch(value))
