"""How fast the bot takes complaints: whole intakes through the real bot, storage and
outbox dispatcher on SQLite (a file, WAL), no network.

    python -m bench.intake [PEOPLE]

Prints handled messages per second and per-message latency for PEOPLE people filing at
once, and the same for one person at a time (the baseline), with their ratio.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.limits import InboundLimit
from bot.messages import Inbound, InboundKind, Outbound
from bot.router import BotConfig, ComplaintBot
from delivery.dispatcher import Dispatcher
from delivery.sending import Sent
from storage import queries
from storage.database import create_engine
from storage.migrate import upgrade
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


class CountingSender:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, outbound: Outbound) -> Sent:
        self.sent += 1
        return Sent((str(self.sent),))


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


async def measure(people: int, at_once: bool) -> tuple[float, list[float], int]:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(f"sqlite+aiosqlite:///{directory}/bench.db")
        await upgrade(engine)
        repository = SqlRepository(engine, Path(directory))
        # A load test: the per-complainant inbound limit is off (0).
        config = BotConfig(default_locale="en", inbound_limit=InboundLimit(0, 0))
        bot = ComplaintBot(repository, config)
        sender = CountingSender()
        dispatcher = Dispatcher(SqlOutbox(engine, Path(directory)), {"bench": sender})
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
        while await dispatcher.run_once():
            pass
        elapsed = time.perf_counter() - started
        filed = len(await queries.list_cases(engine))
        if filed != people:
            raise SystemExit(f"only {filed} of {people} intakes became cases")
        dispatcher.stop()
        await sending
        await engine.dispose()
        return elapsed, latencies, sender.sent


def report(label: str, people: int, elapsed: float, latencies: list[float], sent: int) -> float:
    rate = len(latencies) / elapsed
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    print(
        f"{label:<22} {people} intakes, {len(latencies)} messages in {elapsed:.2f}s: "
        f"{rate:.0f} msg/s, median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {p95:.1f} ms, {sent} replies sent"
    )
    return rate


async def main(people: int) -> None:
    baseline = report("one at a time", people, *await measure(people, at_once=False))
    concurrent = report("all at once", people, *await measure(people, at_once=True))
    print(f"throughput ratio all-at-once / one-at-a-time: {concurrent / baseline:.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
