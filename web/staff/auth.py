"""Who is asking: staff web sessions, password checks with lock-out, CSRF tokens.

- The session cookie holds a random token; the database keeps its SHA-256. It is
  HttpOnly, SameSite=Lax, limited to /staff/, Secure when the request came by HTTPS
  (behind the proxy, as TRUSTED_PROXIES tells), and ends after STAFF_SESSION_HOURS.
- Every form carries the session's CSRF token; a POST without the right one is refused.
  The login form, before any session, pairs a cookie with its field (double submit).
- Wrong passwords: after `LOCK_AFTER` in a row the login is locked for `LOCK_FOR`, and
  the page says until when; besides, one address may try `ADDRESS_TRIES` logins a
  minute. An unknown login costs the same time as a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response

from bot.roles import StaffRole
from storage import staff_sessions
from storage.staff_sessions import SessionUser
from web.context import WebContext

SESSION_COOKIE = "cb_staff"
LOGIN_CSRF_COOKIE = "cb_login"
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
ADDRESS_TRIES = 20  # login attempts per address per minute

_hasher = PasswordHasher()
# Verified against when the login is unknown, so that it takes as long as a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Staff:
    """The person behind a request."""

    user: SessionUser
    token_hash: str

    @property
    def role(self) -> StaffRole:
        return StaffRole(self.user.role)

    @property
    def csrf(self) -> str:
        return self.user.csrf


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def current_staff(context: WebContext, request: Request) -> Staff | None:
    """The staff user of the request's session; None without a live session."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    hashed = token_hash(token)
    user = await staff_sessions.session_user(context.engine, hashed, context.clock.now())
    return None if user is None else Staff(user, hashed)


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given), expected)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A login attempt's outcome: a session token, or why not (`locked_until` set when
    the login is, or has just become, locked)."""

    token: str | None = None
    user: staff_sessions.StaffLogin | None = None
    locked_until: datetime | None = None
    throttled: bool = False


class Logins:
    """Checks passwords and opens sessions; counts attempts per address in memory."""

    def __init__(self, context: WebContext) -> None:
        self.context = context
        self._tries: dict[str, deque[datetime]] = {}

    def _throttled(self, address: str | None, now: datetime) -> bool:
        if address is None:
            return False
        tries = self._tries.setdefault(address, deque())
        while tries and now - tries[0] > timedelta(minutes=1):
            tries.popleft()
        tries.append(now)
        if len(self._tries) > 10_000:  # forget quiet addresses rather than grow
            self._tries = {a: t for a, t in self._tries.items() if t and t[-1] == now}
        return len(tries) > ADDRESS_TRIES

    async def attempt(self, login: str, password: str, address: str | None) -> LoginResult:
        engine, now = self.context.engine, self.context.clock.now()
        if self._throttled(address, now):
            return LoginResult(throttled=True)
        user = await staff_sessions.staff_login(engine, login)
        if user is None or user.disabled:
            _matches(_DUMMY_HASH, password)
            return LoginResult(user=user)
        if user.locked_until is not None and user.locked_until > now:
            return LoginResult(user=user, locked_until=user.locked_until)
        if not _matches(user.password_hash, password):
            lock = now + LOCK_FOR if user.failed_logins + 1 >= LOCK_AFTER else None
            await staff_sessions.count_failed_login(engine, user.id, lock)
            return LoginResult(user=user, locked_until=lock)
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(hours=self.context.session_hours)
        await staff_sessions.open_session(
            engine, user.id, token_hash(token), secrets.token_urlsafe(32), now, expires, address
        )
        return LoginResult(token=token, user=user)


def _matches(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def set_session_cookie(response: Response, request: Request, token: str, hours: float) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hours * 3600),
        path="/staff",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def forget_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/staff")
