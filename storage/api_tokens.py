"""The API's bearer tokens: made, listed, revoked from the CLI; checked on each request.

A token is 32 random bytes, URL-safe; only its SHA-256 is stored, so the database
(or a backup of it) gives no one a usable token. A plain hash suffices here, unlike
for passwords: the token has 256 bits of randomness, nothing to guess.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import ApiToken

# How stale `last_used_at` may be: one write a minute per token, not one per request.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


class DuplicateApiToken(Exception):
    """A token with this name exists (a revoked one too: names stay attributable)."""


@dataclass(frozen=True, slots=True)
class ApiTokenRow:
    """A token as listed and as a request is authorised by; never the token itself."""

    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _row(token: ApiToken) -> ApiTokenRow:
    return ApiTokenRow(
        token.name, token.role, token.created_at, token.revoked_at, token.last_used_at
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_api_token(engine: AsyncEngine, name: str, role: str, at: datetime) -> str:
    """Stores a new token's hash under `name` and returns the token, the only time it
    exists in the clear; `DuplicateApiToken` when the name is taken."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, token_hash=_hash(token), created_at=at)
    try:
        async with AsyncSession(engine) as session, session.begin():
            if await session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
                raise DuplicateApiToken(name)
            session.add(row)
    except IntegrityError:
        # Another command took the name between the check and the insert.
        raise DuplicateApiToken(name) from None
    return token


async def revoke_api_token(engine: AsyncEngine, name: str, at: datetime) -> bool:
    """The token `name` no longer opens the API; False when there is no such token.
    Revoking a revoked token keeps its first revocation time."""
    async with AsyncSession(engine) as session, session.begin():
        found = await session.scalar(select(ApiToken).where(ApiToken.name == name))
        if found is None:
            return False
        if found.revoked_at is None:
            found.revoked_at = at
    return True


async def list_api_tokens(engine: AsyncEngine) -> list[ApiTokenRow]:
    """Every token, revoked ones included, by name."""
    async with AsyncSession(engine) as session:
        rows = await session.scalars(select(ApiToken).order_by(ApiToken.name))  # type: ignore[arg-type]
        return [_row(t) for t in rows.all()]


async def authorise_api_token(engine: AsyncEngine, token: str, at: datetime) -> ApiTokenRow | None:
    """The live (not revoked) token `token` is, noting that it was used at `at`; None for
    a token that is unknown or revoked."""
    async with AsyncSession(engine) as session, session.begin():
        found = await session.scalar(
            select(ApiToken).where(
                ApiToken.token_hash == _hash(token),
                ApiToken.revoked_at.is_(None),  # type: ignore[union-attr]
            )
        )
        if found is None:
            return None
        last = found.last_used_at
        if last is None or at - last >= _LAST_USED_GRANULARITY:
            await session.execute(
                update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=at)  # type: ignore[arg-type]
            )
        return _row(found)
