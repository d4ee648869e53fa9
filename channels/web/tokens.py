"""A web chat conversation's token: the visitor's secret, kept by their page (the
widget's storage, an HttpOnly cookie on /chat/). The conversation's name on the record
is derived from it, so the token itself is stored nowhere and one conversation's name
does not open it.

A link mailed to a visitor carries a resume token instead,
`r1.<conversation>.<expiry>.<signature>`: the conversation it names, until `expiry`
(unix seconds), signed with the site's key (HMAC-SHA256, URL-safe base64 without
padding). The page keeps it as its token: it opens that conversation until it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from bot.ports import Clock

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_RESUME = re.compile(r"^r1\.(w[0-9a-f]{31})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESUME_VALIDITY = timedelta(days=30)


def conversation_named(token: str) -> str:
    """The conversation a random token opens (its name on the record)."""
    return "w" + hashlib.sha256(token.encode()).hexdigest()[:31]


class ConversationTokens:
    """What a page's token opens: the conversation derived from a random token, or the
    one a resume token signed with `key` names while it is valid."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        self.key = key
        self.clock = clock

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(32)

    def conversation_of(self, token: str | None) -> str | None:
        """The conversation a token opens; None for what is not a token (or a resume
        token forged or expired)."""
        if not token:
            return None
        if _TOKEN.fullmatch(token):
            return conversation_named(token)
        resume = _RESUME.fullmatch(token)
        if resume is None:
            return None
        conversation, expiry, signature = resume.groups()
        if not hmac.compare_digest(signature, self._signature(conversation, expiry)):
            return None
        if int(expiry) <= self.clock.now().timestamp():
            return None
        return conversation

    def resume_token(self, conversation: str, now: datetime) -> str:
        """A token that opens `conversation` for `RESUME_VALIDITY` from `now`."""
        expiry = str(int((now + RESUME_VALIDITY).timestamp()))
        return f"r1.{conversation}.{expiry}.{self._signature(conversation, expiry)}"

    def _signature(self, conversation: str, expiry: str) -> str:
        digest = hmac.new(self.key, f"r1.{conversation}.{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def is_resume_token(token: str | None) -> bool:
    """Whether `token` has the form of a resume token (valid or not)."""
    return token is not None and token.startswith("r1.")


def valid_message_id(value: object) -> bool:
    """The page's own id for a message it sends (a retry sends the same one)."""
    return isinstance(value, str) and bool(_MESSAGE_ID.fullmatch(value))
