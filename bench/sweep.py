"""How long one sweep takes as stored cases grow: 10k, 100k, 1M (SQLite file, WAL).

    python -m bench.sweep [LARGEST]

Cases are written straight into the database (three pending timers each, due in the
future, as a real open case has); then the real bot sweeps: once with nothing due, and
once with 20 reminders due. The sweep reads due timers through an index, so neither
figure should grow with the number of cases.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.desk import DeskConfig
from bot.limits import InboundLimit
from bot.router import BotConfig, ComplaintBot
from storage.database import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DUE = 20


class FixedClock:
    def __init__(self) -> None:
        self.current = NOW

    def now(self) -> datetime:
        return self.current


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(path: Path, cases: int) -> None:
    """`cases` open cases with their timers, written in bulk."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now = _stamp(NOW)
    db.execute(
        "INSERT INTO complainants (id, name, created_at, updated_at) VALUES (1, 'x', ?, ?)",
        (now, now),
    )
    later = [_stamp(NOW + timedelta(hours=h)) for h in (5, 8, 24)]
    batch = 50_000
    for start in range(0, cases, batch):
        ids = range(start + 1, min(start + batch, cases) + 1)
        db.executemany(
            "INSERT INTO cases (id, case_no, status, channel, conversation, complainant_id,"
            " locale, contact_name, category, subject, description, expectation,"
            " received_at, created_at, updated_at, response_due_at, resolution_due_at,"
            " reopened_count) VALUES (?, ?, 'acknowledged', 'bench', ?, 1, 'en', 'x',"
            " 'appeal', 's', 'd', 'e', ?, ?, ?, ?, ?, 0)",
            ((i, f"TS-20261123-{i:07d}", f"u{i}", now, now, now, later[2], later[2]) for i in ids),
        )
        db.executemany(
            "INSERT INTO case_timers (case_id, kind, due_at, status) VALUES (?, ?, ?, 'pending')",
            (
                (i, kind, due)
                for i in ids
                for kind, due in zip(
                    (
                        "remind:first_response:50",
                        "remind:first_response:80",
                        "escalate:first_response",
                    ),
                    later,
                    strict=True,
                )
            ),
        )
        db.commit()
    # A few cases whose first 50% reminder is due now.
    db.executemany(
        "UPDATE case_timers SET due_at = ? WHERE case_id = ? AND kind = 'remind:first_response:50'",
        ((_stamp(NOW - timedelta(minutes=1)), i) for i in range(1, DUE + 1)),
    )
    db.commit()
    db.close()


async def measure(cases: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()
        fill(path, cases)
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        clock = FixedClock()
        desk = DeskConfig(channel="bench", conversation="agents")
        config = BotConfig(desk=desk, inbound_limit=InboundLimit(0, 0))  # a load test: off
        bot = ComplaintBot(SqlRepository(engine, Path(directory)), config, clock)
        # The due reminders are pushed to the future while measuring the empty sweep.
        clock.current = NOW - timedelta(hours=1)
        await bot.sweep()  # warm caches and connections
        empty = []
        for _ in range(20):
            started = time.perf_counter()
            handled = await bot.sweep()
            empty.append(time.perf_counter() - started)
            assert handled == 0
        clock.current = NOW
        started = time.perf_counter()
        handled = await bot.sweep()
        busy = time.perf_counter() - started
        if handled != DUE:
            raise SystemExit(f"the sweep handled {handled} timers, not {DUE}")
        await engine.dispose()
        return statistics.median(empty), busy


async def main(largest: int) -> None:
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= largest]
    first = None
    for size in sizes:
        empty, busy = await measure(size)
        first = first or empty
        print(
            f"{size:>9,} cases: sweep with nothing due {empty * 1000:6.2f} ms "
            f"(x{empty / first:.2f} of 10k); with {DUE} reminders due {busy * 1000:6.1f} ms "
            f"({busy / DUE * 1000:.2f} ms each)"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
