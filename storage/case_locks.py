"""The case rows a transaction has locked, so that each is locked once.

On PostgreSQL three parts of one transaction lock a case's row: the conversation that
works the case (`FOR UPDATE`: the desk and the complainant reach one case from two
conversations), and the timeline and the search terms, which are appended and rewritten
under `FOR NO KEY UPDATE` (see `storage.chain`). `FOR UPDATE` includes the other; a lock
already held is not asked for again, and a case inserted by the transaction is locked
by being invisible to every other until the commit. SQLite has one writer at a time
(`BEGIN IMMEDIATE`): nothing to lock.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Case

# Where a session keeps what its transaction has locked: (transaction, {case id: whole}),
# `whole` when the lock is FOR UPDATE.
_LOCKED = "complaintbot_locked_cases"


def _held(session: AsyncSession) -> dict[int, bool]:
    transaction = session.sync_session.get_transaction()
    if transaction is None:
        return {}  # no transaction yet, so no lock (the statement that locks begins one)
    known = session.info.get(_LOCKED)
    if known is None or known[0] is not transaction:
        known = (transaction, {})
        session.info[_LOCKED] = known
    held: dict[int, bool] = known[1]
    return held


def created(session: AsyncSession, case_id: int) -> None:
    """The case was inserted by this transaction: no one else can lock it."""
    _held(session)[case_id] = True


async def lock_for_update(session: AsyncSession, row: Case) -> None:
    """The case's row locked `FOR UPDATE`, and `row` read again under the lock (it may
    have changed since it was read)."""
    assert row.id is not None
    if session.bind.dialect.name != "postgresql" or _held(session).get(row.id):
        return
    await session.execute(
        select(Case)
        .where(col(Case.id) == row.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    _held(session)[row.id] = True


async def lock_for_no_key_update(session: AsyncSession, case_id: int) -> None:
    """The case's row locked `FOR NO KEY UPDATE`, the lock an UPDATE of the case takes:
    it does not wait for the key-share locks that inserting rows referring to the case
    take (which would deadlock two outbox deliveries for one case)."""
    if session.bind.dialect.name != "postgresql" or case_id in _held(session):
        return
    await session.execute(
        select(Case.id).where(col(Case.id) == case_id).with_for_update(key_share=True)
    )
    _held(session)[case_id] = False
