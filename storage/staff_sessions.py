"""Staff web logins: password checks' bookkeeping (failures, lock-out) and sessions.

The web decides (the password, how many failures lock a login, for how long); this
module records. A session is looked up by the SHA-256 of its cookie's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import StaffSession, StaffUser


@dataclass(frozen=True, slots=True)
class StaffLogin:
    """What a login attempt needs of a staff user, the password hash included (the rest
    of the user is read with the session, `SessionUser`)."""

    id: int
    login: str
    role: str
    disabled: bool
    password_hash: str
    failed_logins: int
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The staff user behind a live session."""

    login: str
    name: str
    role: str
    team: str | None
    telegram_id: int | None
    csrf: str
    expires_at: datetime
    search: dict[str, Any] | None


async def staff_login(engine: AsyncEngine, login: str) -> StaffLogin | None:
    async with AsyncSession(engine) as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.login == login))
        if user is None or user.id is None:
            return None
        return StaffLogin(
            user.id,
            user.login,
            user.role,
            user.disabled,
            user.password_hash,
            user.failed_logins,
            user.locked_until,
        )


async def count_failed_login(
    engine: AsyncEngine, user_id: int, locked_until: datetime | None
) -> int:
    """One more wrong password; `locked_until` set locks the login until then (and starts
    the count again). Returns the failures counted so far."""
    async with AsyncSession(engine) as session, session.begin():
        user = await session.get(StaffUser, user_id, with_for_update=True)
        assert user is not None
        if locked_until is not None:
            user.failed_logins, user.locked_until = 0, locked_until
        else:
            user.failed_logins += 1
        return user.failed_logins


async def open_session(
    engine: AsyncEngine,
    user_id: int,
    token_hash: str,
    csrf: str,
    at: datetime,
    expires_at: datetime,
    address: str | None,
) -> None:
    """A successful login: the failures are forgotten and a session starts."""
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == user_id)  # type: ignore[arg-type]
            .values(failed_logins=0, locked_until=None)
        )
        session.add(
            StaffSession(
                token_hash=token_hash,
                staff_user_id=user_id,
                csrf=csrf,
                created_at=at,
                expires_at=expires_at,
                address=address,
            )
        )


async def session_user(engine: AsyncEngine, token_hash: str, now: datetime) -> SessionUser | None:
    """The user of a session that has not expired or ended, and is not disabled."""
    async with AsyncSession(engine) as session:
        found = (
            await session.execute(
                select(StaffSession, StaffUser)
                .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)  # type: ignore[arg-type]
                .where(StaffSession.token_hash == token_hash)  # type: ignore[arg-type]
            )
        ).first()
    if found is None:
        return None
    row, user = found
    if row.ended_at is not None or row.expires_at <= now or user.disabled:
        return None
    return SessionUser(
        user.login,
        user.name,
        user.role,
        user.team,
        user.telegram_id,
        row.csrf,
        row.expires_at,
        row.search,
    )


async def end_session(engine: AsyncEngine, token_hash: str, at: datetime) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == token_hash)  # type: ignore[arg-type]
            .values(ended_at=at)
        )


async def keep_search(engine: AsyncEngine, token_hash: str, search: dict[str, Any]) -> None:
    """The case list's filters for this session (they hold personal data: no URL may)."""
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == token_hash)  # type: ignore[arg-type]
            .values(search=search)
        )
