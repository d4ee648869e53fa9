"""The staff users directory: who may use the coming staff web and API, in which role.

Kept by operators from the CLI. Passwords arrive here already hashed (argon2, by the
caller): storage holds the hash and never sees a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import StaffUser


class DuplicateStaffUser(Exception):
    """The login, or the Telegram id, belongs to another staff user (disabled ones too);
    `field` says which: "login" or "telegram_id"."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True, slots=True)
class StaffUserRow:
    """A staff user as listed; without the password hash, which nothing shows."""

    login: str
    name: str
    role: str
    team: str | None
    telegram_id: int | None
    disabled: bool
    created_at: datetime
    password_changed_at: datetime


def _row(user: StaffUser) -> StaffUserRow:
    return StaffUserRow(
        user.login,
        user.name,
        user.role,
        user.team,
        user.telegram_id,
        user.disabled,
        user.created_at,
        user.password_changed_at,
    )


async def _taken(session: AsyncSession, login: str, telegram_id: int | None) -> str | None:
    """Which of the two is already someone's, "login" first."""
    if await session.scalar(select(StaffUser.id).where(StaffUser.login == login)) is not None:
        return "login"
    if telegram_id is not None:
        found = await session.scalar(
            select(StaffUser.id).where(StaffUser.telegram_id == telegram_id)
        )
        if found is not None:
            return "telegram_id"
    return None


async def add_staff_user(
    engine: AsyncEngine,
    login: str,
    name: str,
    role: str,
    team: str | None,
    telegram_id: int | None,
    password_hash: str,
    at: datetime,
) -> StaffUserRow:
    """Adds a staff user; `DuplicateStaffUser` when the login or Telegram id is taken."""
    user = StaffUser(
        login=login,
        name=name,
        role=role,
        team=team,
        telegram_id=telegram_id,
        password_hash=password_hash,
        created_at=at,
        password_changed_at=at,
    )
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            taken = await _taken(session, login, telegram_id)
            if taken is not None:
                raise DuplicateStaffUser(taken)
            session.add(user)
    except IntegrityError:
        # Another command added the same login or id between the check and the insert.
        async with AsyncSession(engine) as session:
            raise DuplicateStaffUser(await _taken(session, login, telegram_id) or "login") from None
    return _row(user)


async def list_staff_users(engine: AsyncEngine) -> list[StaffUserRow]:
    """Every staff user, disabled ones included, by login."""
    async with AsyncSession(engine) as session:
        rows = await session.scalars(select(StaffUser).order_by(StaffUser.login))
        return [_row(u) for u in rows.all()]


async def find_staff_user(engine: AsyncEngine, login: str) -> StaffUserRow | None:
    """The staff user with this login, disabled or not; None when there is none."""
    async with AsyncSession(engine) as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.login == login))
        return None if user is None else _row(user)


async def disable_staff_user(engine: AsyncEngine, login: str) -> bool:
    """False when no staff user has this login. The row stays (what they did names them)."""
    async with AsyncSession(engine) as session, session.begin():
        result = await session.execute(
            update(StaffUser).where(StaffUser.login == login).values(disabled=True)  # type: ignore[arg-type]
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def reset_staff_password(
    engine: AsyncEngine, login: str, password_hash: str, at: datetime
) -> bool:
    """Replaces the password hash; False when no staff user has this login."""
    async with AsyncSession(engine) as session, session.begin():
        result = await session.execute(
            update(StaffUser)
            .where(StaffUser.login == login)  # type: ignore[arg-type]
            .values(password_hash=password_hash, password_changed_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def staff_user_named(engine: AsyncEngine, who: str) -> StaffUserRow | None:
    """The enabled staff user whose login is `who`, else the only one so named; None
    when there is none (or several share the name)."""
    async with AsyncSession(engine) as session:
        enabled = select(StaffUser).where(StaffUser.disabled == False)  # noqa: E712
        user = await session.scalar(enabled.where(StaffUser.login == who))
        if user is None:
            named = (await session.scalars(enabled.where(StaffUser.name == who))).all()
            user = named[0] if len(named) == 1 else None
        return None if user is None else _row(user)
