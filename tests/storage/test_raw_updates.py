"""Raw updates on SQLite and PostgreSQL: stored once, handed back until handled, in the
order received; a handled one keeps only its key, and erasing a person empties those
kept from their account."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from storage import privacy
from storage.models import RawUpdate
from storage.outbox import SqlOutbox
from storage.raw_updates import SqlRawUpdates
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock


def _update(n: int) -> tuple[str, dict[str, object]]:
    # A NUL, as a hostile client may send: PostgreSQL keeps it escaped in the JSON.
    return str(n), {"update_id": n, "message": {"text": f"text\x00 {n}"}}


async def test_raw_updates_are_stored_once_and_handed_back_until_handled(
    engine: AsyncEngine,
) -> None:
    raw = SqlRawUpdates(engine)
    assert await raw.keep("telegram", [_update(10), _update(9), _update(11)]) == ["10", "9", "11"]
    await raw.mark("telegram", "10", "handled")
    await raw.mark("telegram", "9", "undecodable")
    # Telegram sends 10 and 11 again (the offset was lost), and 12 for the first time.
    assert await raw.keep("telegram", [_update(10), _update(11), _update(12)]) == ["11", "12"]
    assert await raw.unhandled("telegram") == [_update(11), _update(12)]
    assert await raw.unhandled("email") == []

    async with AsyncSession(engine) as session:
        rows = (await session.scalars(select(RawUpdate).order_by(RawUpdate.id))).all()
    assert [(r.update_key, r.state) for r in rows] == [
        ("10", "handled"),
        ("9", "undecodable"),
        ("11", "stored"),
        ("12", "stored"),
    ]
    assert rows[0].payload == {} and rows[0].handled_at is not None
    assert rows[1].payload == _update(9)[1]


async def test_erasing_a_person_empties_the_raw_updates_kept_from_their_account(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    await play(Chat(bot, outbox, clock), ENGLISH_INTAKE)  # user 1001 on the test channel
    raw = SqlRawUpdates(engine)
    theirs = {"update_id": 1, "poll": {"id": "p-1", "from": {"id": 1001, "first_name": "A"}}}
    others = {"update_id": 2, "poll": {"id": "p-2", "from": {"id": 2002, "first_name": "B"}}}
    await raw.keep("test", [("1", theirs), ("2", others)])
    await raw.mark("test", "1", "undecodable")

    contact = privacy.Contact(phone="+8613812345678")
    erased = await privacy.erase(engine, tmp_path, contact, clock.now())

    assert erased is not None
    async with AsyncSession(engine) as session:
        rows = (await session.scalars(select(RawUpdate).order_by(RawUpdate.id))).all()
    assert [(r.update_key, r.state, r.payload) for r in rows] == [
        ("1", "undecodable", {}),
        ("2", "stored", others),
    ]
