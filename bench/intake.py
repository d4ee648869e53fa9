"""How fast the bot takes complaints: whole intakes through the real bot, storage and
outbox dispatcher, no network, the per-complainant limit off.

    python -m bench.intake [PEOPLE] [--postgres [URL]] [--events N]

On SQLite (a file, WAL) and, with `--postgres`, on PostgreSQL too (a throwaway cluster
started for the run as the tests start theirs — fsync off — or the database at URL,
emptied first), prints:

- messages handled per second and each message's latency (p50, p95) for PEOPLE people
  filing one after the other, then all at once, and the ratio of the two rates (the
  goal: at once no slower than one at a time, ≥ 200 messages/s on SQLite);
- timeline appends per second through `storage.chain`: N events to cases, ten in a
  transaction (as one inbound message writes several), and one in a transaction.

A run counts until every reply has been handed to the (counting) sender.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from bot.limits import InboundLimit
from bot.messages import Inbound, InboundKind, Outbound
from bot.router import BotConfig, ComplaintBot
from delivery.dispatcher import Dispatcher
from delivery.sending import Sent
from storage import queries
from storage.chain import append_event
from storage.database import READ_ONLY, create_engine
from storage.migrate import upgrade
from storage.models import Case, Complainant, OutboxItem
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository

_ids = itertools.count(1)
SCRIPT: list[tuple[InboundKind, str]] = [
    (InboundKind.TEXT, "I was charged 30 yuan and I don't know why"),
    (InboundKind.BUTTON, "desc:done"),
    (InboundKind.TEXT, "Alice Wang"),
    (InboundKind.TEXT, "13812345678"),
    (InboundKind.BUTTON, "cat:appeal"),
    (InboundKind.TEXT, "Example Telecom"),
    (InboundKind.BUTTON, "ev:done"),
    (InboundKind.TEXT, "A refund"),
    (InboundKind.BUTTON, "confirm"),
]
START = datetime(2026, 1, 5, 1, tzinfo=UTC)


class CountingSender:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, outbound: Outbound) -> Sent:
        self.sent += 1
        return Sent((str(self.sent),))


@dataclass(frozen=True)
class Run:
    people: int
    elapsed: float
    latencies: list[float]
    sent: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def line(self, label: str) -> str:
        p50 = statistics.median(self.latencies) * 1000
        p95 = statistics.quantiles(self.latencies, n=20)[-1] * 1000
        return (
            f"{label:<14} {self.people} intakes, {len(self.latencies)} messages in "
            f"{self.elapsed:.2f} s: {self.rate:,.0f} messages/s, p50 {p50:.1f} ms, "
            f"p95 {p95:.1f} ms, {self.sent} replies sent"
        )


async def file_one(bot: ComplaintBot, person: str, latencies: list[float]) -> None:
    for kind, value in SCRIPT:
        number = next(_ids)
        field = {"button_data": value} if kind is InboundKind.BUTTON else {"text": value}
        inbound = Inbound(
            channel="bench",
            transport_id=str(number),
            conversation=person,
            sender_id=person,
            received_at=datetime.now(UTC),
            kind=kind,
            language_code="en",
            message_id=str(number),
            **field,  # type: ignore[arg-type]
        )
        started = time.perf_counter()
        await bot.handle(inbound)
        latencies.append(time.perf_counter() - started)


async def _unsent(engine: AsyncEngine) -> int:
    # A read transaction: the bench's looking must not queue behind the writers.
    async with engine.connect() as connection:
        await connection.execution_options(**{READ_ONLY: True})
        count = await connection.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(col(OutboxItem.status).in_(("pending", "sending")))
        )
    return int(count or 0)


async def measure(url: str, directory: Path, people: int, at_once: bool) -> Run:
    engine = create_engine(url)
    await upgrade(engine)
    repository = SqlRepository(engine, directory)
    config = BotConfig(default_locale="en", inbound_limit=InboundLimit(0, 0))
    bot = ComplaintBot(repository, config)
    sender = CountingSender()
    dispatcher = Dispatcher(SqlOutbox(engine, directory), {"bench": sender})
    repository.on_commit(dispatcher.wake)
    sending = asyncio.create_task(dispatcher.run())
    latencies: list[float] = []
    started = time.perf_counter()
    names = [f"p{n}" for n in range(people)]
    if at_once:
        await asyncio.gather(*(file_one(bot, name, latencies) for name in names))
    else:
        for name in names:
            await file_one(bot, name, latencies)
    # Done when every reply has been sent: the dispatcher runs on by itself.
    while await _unsent(engine):
        dispatcher.wake()
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    filed = len(await queries.list_cases(engine))
    dispatcher.stop()
    await sending
    await engine.dispose()
    if filed != people:
        raise SystemExit(f"only {filed} of {people} intakes became cases")
    return Run(people, elapsed, latencies, sender.sent)


async def timeline(url: str, events: int, per_transaction: int) -> float:
    """Events per second appended through `storage.chain`, `per_transaction` events to
    one case in each transaction, twenty events a case."""
    engine = create_engine(url)
    await upgrade(engine)
    cases = max(1, events // 20)
    async with engine.begin() as connection:
        person = await connection.scalar(
            insert(Complainant)
            .values(name="Li", created_at=START, updated_at=START)
            .returning(col(Complainant.id))
        )
        assert person is not None
        # Case numbers of their own: a database may be reused for several runs.
        prefix = f"TL{person}"
        await connection.execute(insert(Case), [_case(prefix, n, person) for n in range(cases)])
        found = await connection.scalars(
            select(col(Case.id)).where(col(Case.case_no).startswith(prefix)).order_by(col(Case.id))
        )
        ids = [int(number) for number in found.all() if number is not None]
    began = time.perf_counter()
    for first in range(0, events, per_transaction):
        async with AsyncSession(engine) as session, session.begin():
            for number in range(first, min(events, first + per_transaction)):
                case_id = ids[number * cases // events]
                at = START + timedelta(seconds=number)
                payload = {"text": f"message {number}", "agent": "Li Lei"}
                await append_event(session, case_id, at, "agent:1", "agent_message", payload)
    elapsed = time.perf_counter() - began
    await engine.dispose()
    return events / elapsed


def _case(prefix: str, number: int, person: int) -> dict[str, object]:
    return {
        "case_no": f"{prefix}-20260105-{number:06d}",
        "status": "in_progress",
        "channel": "bench",
        "conversation": str(number),
        "complainant_id": person,
        "locale": "en",
        "contact_name": "Li",
        "category": "appeal",
        "subject": "Example Telecom",
        "description": "charged twice",
        "expectation": "refund",
        "received_at": START,
        "created_at": START,
        "updated_at": START,
    }


async def bench(name: str, fresh: AsyncIterator[str], people: int, events: int) -> None:
    """`fresh` gives an empty database's URL for each run."""
    with tempfile.TemporaryDirectory() as directory:
        alone = await measure(await anext(fresh), Path(directory), people, at_once=False)
        print(f"{name:<10} {alone.line('one at a time')}")
    with tempfile.TemporaryDirectory() as directory:
        together = await measure(await anext(fresh), Path(directory), people, at_once=True)
        print(f"{name:<10} {together.line(f'{people} at once')}")
    ratio = together.rate / alone.rate
    print(f"{name:<10} {people} at once / one at a time: {ratio:.2f} (goal ≥ 1)")
    url = await anext(fresh)
    grouped = await timeline(url, events, 10)
    single = await timeline(url, events, 1)
    print(
        f"{name:<10} timeline appends, {events:,} events: {grouped:,.0f} events/s ten in a "
        f"transaction, {single:,.0f} events/s one in a transaction (goal ≥ 2,000)"
    )


async def sqlite_files() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        for number in itertools.count():
            yield f"sqlite+aiosqlite:///{directory}/bench{number}.db"


@asynccontextmanager
async def postgres_databases(given: str) -> AsyncIterator[AsyncIterator[str]]:
    """Empty databases: in a throwaway cluster (`given` "start"), or `given` emptied."""
    # The tests' cluster: the bench runs from the repository, like them.
    from tests.support.postgres import PostgresCluster

    async def emptied() -> AsyncIterator[str]:
        while True:
            engine = create_engine(given)
            async with engine.begin() as connection:
                await connection.exec_driver_sql("DROP SCHEMA public CASCADE")
                await connection.exec_driver_sql("CREATE SCHEMA public")
            await engine.dispose()
            yield given

    if given != "start":
        yield emptied()
        return
    with PostgresCluster() as cluster:

        async def created() -> AsyncIterator[str]:
            for number in itertools.count():
                await cluster.create_database(f"bench{number}")
                yield cluster.url(f"bench{number}")

        yield created()


async def main(people: int, postgres: str | None, events: int) -> None:
    await bench("sqlite", sqlite_files(), people, events)
    if postgres is not None:
        async with postgres_databases(postgres) as databases:
            await bench("postgresql", databases, people, events)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.intake")
    parser.add_argument("people", nargs="?", type=int, default=50)
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="start",
        metavar="URL",
        help="PostgreSQL too: a throwaway cluster, or the database at URL (emptied first)",
    )
    parser.add_argument("--events", type=int, default=4000, help="timeline events to append")
    args = parser.parse_args()
    asyncio.run(main(args.people, args.postgres, args.events))
