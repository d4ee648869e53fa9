"""Many timeline events in one transaction: chained one after another, on every case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.chain import GENESIS, append_event, verify
from storage.models import Case, Complainant, TimelineEvent, TimelineHead

START = datetime(2026, 11, 22, 2, tzinfo=UTC)


async def _cases(engine: AsyncEngine, count: int) -> list[int]:
    async with AsyncSession(engine) as session, session.begin():
        person = Complainant(name="Li", created_at=START, updated_at=START)
        session.add(person)
        await session.flush()
        assert person.id is not None
        rows = [
            Case(
                case_no=f"TS-20261122-{n + 1:04d}",
                status="in_progress",
                channel="test",
                conversation=str(n),
                complainant_id=person.id,
                locale="en",
                contact_name="Li",
                category="appeal",
                subject="Example Telecom",
                description="charged twice",
                expectation="refund",
                received_at=START,
                created_at=START,
                updated_at=START,
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows if row.id is not None]


async def _append(engine: AsyncEngine, order: list[int], first: int) -> None:
    """One transaction appending an event to each case of `order`, in that order."""
    async with AsyncSession(engine) as session, session.begin():
        for n, case_id in enumerate(order, start=first):
            at = START + timedelta(minutes=n)
            await append_event(session, case_id, at, "agent:1", "note", {"text": f"note {n}"})


async def test_events_of_one_transaction_chain_on_from_each_other(engine: AsyncEngine) -> None:
    one, two = await _cases(engine, 2)
    # Interleaved between two cases, then a later transaction continues both chains.
    await _append(engine, [one, two, one, one, two], 0)
    await _append(engine, [two, one], 5)
    async with AsyncSession(engine) as session:
        result = await verify(session)
        chains = {
            case_id: (
                await session.scalars(
                    select(TimelineEvent)
                    .where(TimelineEvent.case_id == case_id)
                    .order_by(TimelineEvent.seq)  # type: ignore[arg-type]
                )
            ).all()
            for case_id in (one, two)
        }
        heads = {head.case_id: head for head in (await session.scalars(select(TimelineHead))).all()}
    assert result.intact, result.breaks
    assert result.events == 7
    for case_id, texts in (
        (one, ["note 0", "note 2", "note 3", "note 6"]),
        (two, ["note 1", "note 4", "note 5"]),
    ):
        chain = chains[case_id]
        assert [e.payload["text"] for e in chain] == texts
        assert [e.seq for e in chain] == list(range(1, len(texts) + 1))
        assert [e.prev_hash for e in chain] == [GENESIS, *(e.hash for e in chain[:-1])]
        assert (heads[case_id].seq, heads[case_id].hash) == (chain[-1].seq, chain[-1].hash)


async def test_a_rolled_back_transaction_leaves_the_chain_as_it_was(engine: AsyncEngine) -> None:
    (case_id,) = await _cases(engine, 1)
    async with AsyncSession(engine) as session:
        async with session.begin():
            await append_event(session, case_id, START, "agent:1", "note", {"text": "lost"})
            await session.rollback()
        # The same session, a new transaction: the chain goes on from what is stored.
        async with session.begin():
            await append_event(session, case_id, START, "agent:1", "note", {"text": "kept"})
        result = await verify(session)
        texts = (
            await session.scalars(
                select(TimelineEvent.payload)
                .where(TimelineEvent.case_id == case_id)
                .order_by(TimelineEvent.seq)  # type: ignore[arg-type]
            )
        ).all()
    assert result.intact, result.breaks
    assert [t["text"] for t in texts] == ["kept"]


async def test_a_session_that_begins_by_itself_chains_on_after_each_commit(
    engine: AsyncEngine,
) -> None:
    (case_id,) = await _cases(engine, 1)
    async with AsyncSession(engine) as session:
        for n in range(3):
            at = START + timedelta(minutes=n)
            await append_event(session, case_id, at, "agent:1", "note", {"text": f"note {n}"})
            await session.commit()
        result = await verify(session)
        seqs = (
            await session.scalars(select(TimelineEvent.seq).where(TimelineEvent.case_id == case_id))
        ).all()
    assert result.intact, result.breaks
    assert sorted(seqs) == [1, 2, 3]
