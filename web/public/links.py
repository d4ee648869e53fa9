"""Signed links sent to complainants: the survey page's (`/survey/TOKEN`).

A token names a case and until when it is valid, and is signed with the site's key
(`channels.web.keys`), so that no one can make one for another case or stretch
one's life: `PAYLOAD.SIGNATURE`, both URL-safe base64 without padding, where the
payload is `CASE_NO|EXPIRES` (Unix seconds) and the signature HMAC-SHA256 over the
link's purpose and the payload. Nothing is stored: the token alone is checked, in
constant time. Whoever holds the link may rate the case, as whoever reads the chat may.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

SURVEY = "survey"  # the purpose signed into a survey link: a key signs nothing else the same


@dataclass(frozen=True, slots=True)
class SignedCase:
    """What a valid signature vouches for: the case, and until when."""

    case_no: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class LinkSigner:
    """Makes and checks the tokens of one kind of link with the site's key."""

    def __init__(self, key: bytes, purpose: str = SURVEY) -> None:
        if not key:
            raise ValueError("a link signer needs a key")
        self.key = key
        self.purpose = purpose

    def token(self, case_no: str, expires_at: datetime) -> str:
        payload = f"{case_no}|{int(expires_at.timestamp())}".encode()
        return f"{_encode(payload)}.{_encode(self._signature(payload))}"

    def read(self, token: str) -> SignedCase | None:
        """The case and expiry the token was signed for; None when it is malformed or its
        signature does not match (whether it has expired is the caller's to ask)."""
        encoded, _dot, signature = token.partition(".")
        payload, mac = _decode(encoded), _decode(signature)
        if payload is None or mac is None:
            return None
        if not hmac.compare_digest(mac, self._signature(payload)):
            return None
        case_no, _bar, expires = payload.decode("utf-8", "replace").rpartition("|")
        if not case_no or not expires.isdigit():
            return None
        return SignedCase(case_no, datetime.fromtimestamp(int(expires), UTC))

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self.key, self.purpose.encode() + b"\0" + payload, hashlib.sha256).digest()


class SurveyLinks:
    """The addresses of cases' survey pages under the public base URL (PUBLIC_BASE_URL):
    the bot's `SurveyLink`. The key is asked for at the first link, so that a process
    that never sends one (a command-line tool) never reads or makes it."""

    def __init__(self, base_url: str, key: Callable[[], bytes]) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._signer: LinkSigner | None = None

    def __call__(self, case_no: str, expires_at: datetime) -> str:
        if self._signer is None:
            self._signer = LinkSigner(self._key(), SURVEY)
        return f"{self.base_url}/survey/{self._signer.token(case_no, expires_at)}"


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes | None:
    if not text or len(text) > 512:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
