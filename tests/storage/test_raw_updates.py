"""Raw updates on SQLite and PostgreSQL: stored once, handed back until handled, in the
order received; a handled one keeps only its key."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import RawUpdate
from storage.raw_updates import SqlRawUpdates


def _update(n: int) -> tuple[str, dict[str, object]]:
    return str(n), {"update_id": n, "message": {"text": f"text {n}"}}


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
