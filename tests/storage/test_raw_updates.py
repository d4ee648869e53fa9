"""Raw updates on SQLite and PostgreSQL: stored once, handed back until handled, in the
order received; a handled one keeps only its key, and erasing a person empties those
kept from their account."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.messages import InboundKind
from bot.router import ComplaintBot
from storage import privacy
from storage.database import create_engine
from storage.models import RawUpdate
from storage.outbox import SqlOutbox
from storage.raw_updates import SqlRawUpdates
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock
from tests.support.waiting import eventually


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


def _in(chat: int, n: int) -> tuple[str, dict[str, object]]:
    return str(n), {"update_id": n, "message": {"chat": {"id": chat}, "text": f"{n}"}}


def _chat(update: dict[str, object]) -> str:
    message = update["message"]
    assert isinstance(message, dict)
    return str(message["chat"]["id"])


async def test_a_claim_holds_one_conversation_with_its_updates_in_order_and_others_skip_it(
    database_url: str,
) -> None:
    # Two workers: two engines (on PostgreSQL two sets of connections, as two processes).
    first, second = create_engine(database_url), create_engine(database_url)
    try:
        mine, theirs = SqlRawUpdates(first), SqlRawUpdates(second)
        if first.dialect.name != "postgresql":
            theirs = mine  # SQLite: one process, whose handlers share one store
        await mine.keep("telegram", [_in(7, 1), _in(8, 2), _in(7, 3), _in(9, 4)], _chat)

        async with mine.claim("telegram") as held:
            assert held is not None
            assert (held.conversation, [k for k, _ in held.updates]) == ("7", ["1", "3"])
            async with theirs.claim("telegram") as other:
                # Chat 7 is held: the other worker takes the next one waiting, chat 8.
                assert other is not None and other.conversation == "8"
                await theirs.mark("telegram", "2", "handled")
            await mine.mark("telegram", "1", "handled")
            await mine.keep("telegram", [_in(8, 5)], _chat)
        async with theirs.claim("telegram") as again:
            # Chat 7's update 3 was not marked: its conversation is claimed again first.
            assert again is not None
            assert (again.conversation, [k for k, _ in again.updates]) == ("7", ["3"])
            async with mine.claim("telegram") as next_one:
                assert next_one is not None and next_one.conversation == "9"
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_worker_that_dies_holding_a_conversation_lets_it_go(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        return  # SQLite has one process: its claims end with it
    dying, surviving = create_engine(database_url), create_engine(database_url)
    try:
        raw = SqlRawUpdates(surviving)
        await raw.keep("telegram", [_in(7, 1)], _chat)
        held = SqlRawUpdates(dying).claim("telegram")
        claimed = await held.__aenter__()
        assert claimed is not None and claimed.conversation == "7"
        async with raw.claim("telegram") as nothing:
            assert nothing is None
        # The process dies: PostgreSQL sees its connection close (here: ends it).
        async with surviving.connect() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                )
            )
        await eventually(lambda: _claims_conversation(raw, "7"))
    finally:
        await surviving.dispose()
        await dying.dispose()


async def _claims_conversation(raw: SqlRawUpdates, conversation: str) -> bool:
    async with raw.claim("telegram") as claimed:
        return claimed is not None and claimed.conversation == conversation


async def test_the_turn_that_records_an_updates_message_marks_it_handled_in_its_commit(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine
) -> None:
    chat = Chat(bot, outbox, clock)
    raw = SqlRawUpdates(engine)
    first, second, ignored = (chat.inbound(InboundKind.TEXT, text="/new") for _ in range(3))
    await raw.keep(
        "test", [(m.transport_id, {"n": n}) for n, m in enumerate((first, second, ignored))]
    )

    async def states() -> dict[str, str]:
        async with AsyncSession(engine) as session:
            rows = await session.execute(select(RawUpdate.update_key, RawUpdate.state))
            return dict(rows.all())

    with raw.handing("test", first.transport_id) as handed:
        assert await bot.handle(first)
    assert handed.marked and (await states())[first.transport_id] == "handled"

    # A turn that fails commits nothing: neither its message nor the mark.
    with raw.handing("test", second.transport_id) as handed:
        try:
            async with bot.repository.conversation("test", chat.user, chat.user) as tx:
                await tx.record_inbound(second)
                raise RuntimeError("the turn fails")
        except RuntimeError:
            pass
    assert not handed.marked and (await states())[second.transport_id] == "stored"

    # A message of another update does not mark the one in hand.
    with raw.handing("test", ignored.transport_id) as handed:
        assert await bot.handle(second)
    assert not handed.marked
    assert await states() == {
        first.transport_id: "handled",
        second.transport_id: "stored",  # its own turn ran outside `handing`
        ignored.transport_id: "stored",
    }
