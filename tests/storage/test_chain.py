"""The tamper-evident timeline: tampering with SQL is caught, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.messages import Outbound
from bot.router import ComplaintBot
from delivery.sending import Sent
from storage import migrate
from storage.chain import Verification, verify
from storage.database import create_engine
from storage.models import Case, TimelineEvent
from storage.outbox import SqlOutbox
from storage.types import UTCDateTime
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock


async def checked(engine: AsyncEngine, case_no: str | None = None) -> Verification:
    async with AsyncSession(engine) as session:
        return await verify(session, case_no)


async def events(engine: AsyncEngine, case_no: str) -> list[TimelineEvent]:
    async with AsyncSession(engine) as session:
        case_id = await session.scalar(select(Case.id).where(Case.case_no == case_no))
        return list(
            (
                await session.scalars(
                    select(TimelineEvent)
                    .where(TimelineEvent.case_id == case_id)
                    .order_by(TimelineEvent.seq)
                )
            ).all()
        )


async def sql(engine: AsyncEngine, statement: str, **values: object) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(statement), values)


@pytest.fixture
async def two_cases(bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock) -> list[str]:
    numbers = []
    for user in ("1001", "1002"):
        chat = Chat(bot, outbox, clock, user=user)
        receipt = await play(chat, ENGLISH_INTAKE)
        numbers.append(re.search(r"TS-\d{8}-\d{4}", receipt).group(0))  # type: ignore[union-attr]
        await chat.say("Here is one more detail")
        await chat.dispatcher.run_once()
    return numbers


async def test_an_untouched_timeline_verifies(engine: AsyncEngine, two_cases: list[str]) -> None:
    result = await checked(engine)
    assert result.breaks == []
    assert result.cases == 2
    first = await events(engine, two_cases[0])
    assert [e.kind for e in first] == [
        "received",
        "privacy_notice",
        "case_created",
        "receipt_sent",
        "complainant_message",
    ]
    assert [e.seq for e in first] == [1, 2, 3, 4, 5]
    assert first[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(first))
    assert result.events == 10
    assert (await checked(engine, two_cases[1])).cases == 1


async def test_an_edited_payload_is_caught_and_named(
    engine: AsyncEngine, two_cases: list[str]
) -> None:
    target = (await events(engine, two_cases[1]))[1]
    await sql(
        engine,
        "UPDATE timeline_events SET payload = :payload WHERE id = :id",
        payload='{"category": "appeal", "description": "nothing happened"}',
        id=target.id,
    )
    result = await checked(engine)
    assert [(b.case_no, b.event_id, b.problem) for b in result.breaks] == [
        (two_cases[1], target.id, "changed")
    ]


async def test_an_edited_time_or_actor_is_caught(engine: AsyncEngine, two_cases: list[str]) -> None:
    second = (await events(engine, two_cases[0]))[1]
    await sql(engine, "UPDATE timeline_events SET actor = 'agent:9' WHERE id = :id", id=second.id)
    (found,) = (await checked(engine)).breaks
    assert (found.event_id, found.problem) == (second.id, "changed")


async def test_a_deleted_event_is_caught(engine: AsyncEngine, two_cases: list[str]) -> None:
    chain = await events(engine, two_cases[0])
    await sql(engine, "DELETE FROM timeline_events WHERE id = :id", id=chain[2].id)
    (found,) = (await checked(engine)).breaks
    # The event after the hole no longer follows the one before it.
    assert (found.case_no, found.event_id, found.problem) == (
        two_cases[0],
        chain[3].id,
        "out_of_order",
    )


async def test_deleting_the_newest_events_is_caught(
    engine: AsyncEngine, two_cases: list[str]
) -> None:
    chain = await events(engine, two_cases[0])
    await sql(engine, "DELETE FROM timeline_events WHERE id = :id", id=chain[-1].id)
    (found,) = (await checked(engine)).breaks
    assert (found.event_id, found.problem) == (chain[-2].id, "truncated")

    await sql(engine, "DELETE FROM timeline_events WHERE case_id = :case", case=chain[0].case_id)
    (found,) = (await checked(engine)).breaks
    assert (found.case_no, found.event_id, found.problem) == (two_cases[0], None, "missing")


async def test_swapped_events_are_caught(engine: AsyncEngine, two_cases: list[str]) -> None:
    chain = await events(engine, two_cases[0])
    a, b = chain[1], chain[2]
    # Swap their places in the chain (seq), as someone reordering the story would.
    await sql(engine, "UPDATE timeline_events SET seq = -1 WHERE id = :id", id=a.id)
    await sql(engine, "UPDATE timeline_events SET seq = :seq WHERE id = :id", seq=a.seq, id=b.id)
    await sql(engine, "UPDATE timeline_events SET seq = :seq WHERE id = :id", seq=b.seq, id=a.id)
    (found,) = (await checked(engine)).breaks
    assert (found.event_id, found.seq, found.problem) == (b.id, a.seq, "changed")


async def test_events_moved_to_other_places_are_caught(
    engine: AsyncEngine, two_cases: list[str]
) -> None:
    chain = await events(engine, two_cases[0])
    a, b = chain[2], chain[3]
    # Swap the two rows entirely (ids and positions): the story told in another order.
    swap_id = "UPDATE timeline_events SET id = :new WHERE id = :old"
    await sql(engine, swap_id, new=-1, old=a.id)
    await sql(engine, swap_id, new=a.id, old=b.id)
    await sql(engine, swap_id, new=b.id, old=-1)
    set_seq = "UPDATE timeline_events SET seq = :seq WHERE id = :id"
    await sql(engine, set_seq, seq=-1, id=a.id)
    await sql(engine, set_seq, seq=b.seq, id=b.id)
    await sql(engine, set_seq, seq=a.seq, id=a.id)
    (found,) = (await checked(engine)).breaks
    assert (found.event_id, found.problem) == (a.id, "changed")


async def test_concurrent_appends_to_one_case_keep_one_chain(
    engine: AsyncEngine, two_cases: list[str], repository, clock: FakeClock
) -> None:
    """Several workers appending to one case at once: one chain, no fork, no lost event."""

    async def note(worker: int) -> None:
        async with repository.conversation("desk", f"worker-{worker}", "w") as tx:
            case = await tx.case(two_cases[0])
            await tx.add_event(case, clock.now(), "system", "note", {"text": f"n{worker}"})

    await asyncio.gather(*(note(n) for n in range(8)))
    assert (await checked(engine)).breaks == []
    assert len(await events(engine, two_cases[0])) == 5 + 8


async def test_upgrading_an_existing_database_chains_its_events(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A database from before the chain: events written at revision 0002 verify after
    the upgrade."""
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        cluster = request.getfixturevalue("postgres")
        name = "old_" + database_url.rsplit("/", 1)[1]
        await cluster.create_database(name)
        url = cluster.url(name)
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0002"))
    at = datetime(2026, 11, 20, 8, tzinfo=UTC)
    typed = [bindparam("at", type_=UTCDateTime())]
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO complainants (id, name, created_at, updated_at) "
                "VALUES (1, 'Li', :at, :at)"
            ).bindparams(*typed),
            {"at": at},
        )
        for case_id in (1, 2):
            await connection.execute(
                text(
                    "INSERT INTO cases (id, case_no, status, channel, conversation, "
                    "complainant_id, locale, contact_name, category, subject, description, "
                    "expectation, received_at, created_at, updated_at) VALUES (:id, :no, "
                    "'acknowledged', 'console', 'c', 1, 'en', 'Li', 'appeal', 'X', 'd', 'e', "
                    ":at, :at, :at)"
                ).bindparams(*typed),
                {"id": case_id, "no": f"TS-20261120-000{case_id}", "at": at},
            )
        for case_id, kind in ((1, "received"), (2, "received"), (1, "case_created"), (1, "note")):
            await connection.execute(
                text(
                    "INSERT INTO timeline_events (case_id, at, actor, kind, payload) "
                    "VALUES (:case, :at, 'system', :kind, :payload)"
                ).bindparams(*typed),
                {"case": case_id, "at": at, "kind": kind, "payload": '{"text": "天气"}'},
            )
    await migrate.upgrade(engine)
    result = await checked(engine)
    assert (result.cases, result.events, result.breaks) == (2, 4, [])
    chain = await events(engine, "TS-20261120-0001")
    assert [(e.kind, e.seq, e.payload) for e in chain] == [
        ("received", 1, {"text": "天气"}),
        ("case_created", 2, {"text": "天气"}),
        ("note", 3, {"text": "天气"}),
    ]
    await engine.dispose()


async def test_deliveries_and_desk_work_on_one_case_at_once_keep_one_chain(
    engine: AsyncEngine, two_cases: list[str], repository, outbox: SqlOutbox, clock: FakeClock
) -> None:
    """The outbox records sends while agents write to the same case: no deadlock, no fork."""
    kinds = ["agent_reply", "desk_card", "agent_reply", "message", "desk_post", "resolution"]
    async with repository.conversation("test", "1001", "1001") as tx:
        for n, kind in enumerate(kinds):
            outbound = Outbound("test", f"chat-{n}", f"text {n}", case_no=two_cases[0])
            await tx.enqueue(outbound, kind, clock.now())
    deliveries = await outbox.claim(clock.now(), 20)
    assert len(deliveries) == len(kinds)

    async def note(worker: int) -> None:
        async with repository.conversation("desk", f"worker-{worker}", "w") as tx:
            case = await tx.case(two_cases[0])
            await tx.add_event(case, clock.now(), "system", "note", {"text": f"n{worker}"})

    await asyncio.gather(
        *(outbox.delivered(d, Sent((f"m{d.id}",), "thread-1"), clock.now()) for d in deliveries),
        *(note(n) for n in range(6)),
    )
    assert (await checked(engine)).breaks == []
    recorded = [e.kind for e in await events(engine, two_cases[0])]
    assert recorded.count("note") == 6
    assert recorded.count("message_sent") == 4  # the two desk posts are the agents' own view


async def test_a_whole_case_deleted_is_caught_by_its_missing_number(
    engine: AsyncEngine, two_cases: list[str]
) -> None:
    """Serials are gap-free per day, so a case deleted with everything it had shows."""
    gone = two_cases[1]
    case_id = (await events(engine, gone))[0].case_id
    for table in (
        "timeline_events",
        "timeline_heads",
        "messages",
        "outbox",
        "evidence",
        "case_timers",
        "surveys",
        "case_search",
    ):
        await sql(engine, f"DELETE FROM {table} WHERE case_id = :id", id=case_id)
    await sql(engine, "DELETE FROM cases WHERE id = :id", id=case_id)
    result = await checked(engine)
    assert result.breaks == [] and not result.intact
    (missing,) = result.missing_cases
    assert (missing.day, missing.found, missing.issued) == (gone.split("-")[1], 1, 2)
