"""The access log: who logged in, looked at, downloaded, exported or changed what.

Append-only and hash-chained like the case timeline (storage/chain.py), with one chain
for the whole log: each entry stores its position (`seq`, from 1), the hash of the entry
before it (`prev_hash`; 64 zeros for the first) and its own `hash`, sha256 over a
canonical JSON of every column but the id. Changing, removing or reordering an entry in
SQL breaks the chain; rebuilding the whole chain after a change is caught by the daily
anchor files (storage/anchors.py), which keep the head outside the database.

One chain means every append waits for the one before: on PostgreSQL appends take a
transaction-scoped advisory lock before reading the head (several workers, one chain);
on SQLite every writer is serialised by `BEGIN IMMEDIATE` already. The unique `seq`
would refuse a fork anyway.

`detail` says how (masked or not, the reason, a period); it never holds a password or a
token, and keys that look like one are refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.chain import GENESIS, canonical
from storage.database import READ_ONLY
from storage.models import AccessLogRow

FORMAT = 1
ACTIONS = frozenset(
    {
        "login",
        "login_failed",
        "logout",
        "case_list",
        "case_view",
        "evidence_download",
        "ledger_export",
        "report_view",
        "case_action",
        "access_log_view",
        "user_add",
        "user_disable",
        "user_reset_password",
        "token_create",
        "token_revoke",
        "api_call",
    }
)
# Detail keys refused outright: the log is read by auditors, a secret must never land there.
_SECRET_KEYS = frozenset({"password", "token", "secret", "password_hash", "token_hash"})
_LOCK = "complaintbot:access_log"


@dataclass(frozen=True)
class AccessEntry:
    at: datetime
    actor: str  # staff login, token name, or "os:<user>" for the CLI
    role: str  # agent | supervisor | auditor | operator (CLI)
    action: str  # one of ACTIONS
    target: str | None = None  # a case number, a login, a token name, a period…
    detail: dict[str, Any] = field(default_factory=dict)  # never a password or token
    via: str = "web"  # web | api | cli
    address: str | None = None  # client IP for web/api


@dataclass(frozen=True, kw_only=True)
class StoredAccess(AccessEntry):
    """An entry as stored: with its place in the chain."""

    seq: int
    prev_hash: str
    hash: str


def entry_hash(seq: int, entry: AccessEntry, prev_hash: str) -> str:
    body = {
        "v": FORMAT,
        "seq": seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
        "via": entry.via,
        "address": entry.address,
        "prev": prev_hash,
    }
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _checked_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """`detail` as the JSON column will give it back (times and paths as text), so the
    hash computed now is the one verification computes later."""
    secret = {key for key in detail if key.lower() in _SECRET_KEYS}
    if secret:
        raise ValueError(f"access log detail must not hold secrets: {sorted(secret)}")
    normalised: dict[str, Any] = json.loads(json.dumps(detail, default=str))
    return normalised


async def record_access(engine: AsyncEngine, entry: AccessEntry) -> None:
    """Appends `entry` to the log in a transaction of its own."""
    if entry.action not in ACTIONS:
        raise ValueError(f"unknown access log action {entry.action!r}")
    if entry.at.tzinfo is None:
        raise ValueError("access log times must be timezone-aware")
    detail = _checked_detail(entry.detail)
    async with AsyncSession(engine) as session, session.begin():
        if engine.dialect.name == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _LOCK}
            )
        last = await session.scalar(
            select(AccessLogRow).order_by(AccessLogRow.seq.desc()).limit(1)  # type: ignore[attr-defined]
        )
        seq, prev = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
        stored = replace(entry, detail=detail)
        session.add(
            AccessLogRow(
                seq=seq,
                at=entry.at,
                actor=entry.actor,
                role=entry.role,
                action=entry.action,
                target=entry.target,
                detail=detail,
                via=entry.via,
                address=entry.address,
                prev_hash=prev,
                hash=entry_hash(seq, stored, prev),
            )
        )


def _stored(row: AccessLogRow) -> StoredAccess:
    return StoredAccess(
        at=row.at,
        actor=row.actor,
        role=row.role,
        action=row.action,
        target=row.target,
        detail=row.detail,
        via=row.via,
        address=row.address,
        seq=row.seq,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


async def access_entries(
    engine: AsyncEngine, start: datetime | None = None, end: datetime | None = None
) -> list[StoredAccess]:
    """The entries from `start` (included) to `end` (excluded), in the log's order."""
    query = select(AccessLogRow).order_by(AccessLogRow.seq)  # type: ignore[arg-type]
    if start is not None:
        query = query.where(AccessLogRow.at >= start)  # type: ignore[operator]
    if end is not None:
        query = query.where(AccessLogRow.at < end)  # type: ignore[operator]
    async with AsyncSession(engine.execution_options(**{READ_ONLY: True})) as session:
        rows = (await session.scalars(query)).all()
    return [_stored(row) for row in rows]


async def access_head(engine: AsyncEngine) -> tuple[int, str]:
    """The last entry's position and hash; (0, 64 zeros) for an empty log."""
    async with AsyncSession(engine.execution_options(**{READ_ONLY: True})) as session:
        row = (
            await session.execute(
                select(AccessLogRow.seq, AccessLogRow.hash)
                .order_by(AccessLogRow.seq.desc())  # type: ignore[attr-defined]
                .limit(1)
            )
        ).first()
    return (row[0], row[1]) if row is not None else (0, GENESIS)


async def access_hash_at(engine: AsyncEngine, seq: int) -> str | None:
    """The stored hash of the entry at `seq`, None when there is none."""
    async with AsyncSession(engine.execution_options(**{READ_ONLY: True})) as session:
        found: str | None = await session.scalar(
            select(AccessLogRow.hash).where(AccessLogRow.seq == seq)
        )
    return found


async def verify_access_log(engine: AsyncEngine) -> list[str]:
    """Walks the whole chain; the problems found (the first few of each kind are
    enough to tell), empty when it holds. Streamed, so memory stays flat."""
    problems: list[str] = []
    previous = GENESIS
    expected = 1
    query = select(AccessLogRow).order_by(AccessLogRow.seq)  # type: ignore[arg-type]
    async with AsyncSession(engine.execution_options(**{READ_ONLY: True})) as session:
        rows = await session.stream_scalars(query.execution_options(yield_per=1000))
        async for row in rows:
            if entry_hash(row.seq, _stored(row), row.prev_hash) != row.hash:
                problems.append(f"access log entry {row.seq}: changed after it was written")
            if row.seq != expected:
                problems.append(
                    f"access log entry {row.seq}: expected position {expected} "
                    "(entries removed or inserted)"
                )
            elif row.prev_hash != previous:
                problems.append(f"access log entry {row.seq}: does not follow the entry before")
            previous, expected = row.hash, row.seq + 1
    return problems
