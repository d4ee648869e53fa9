"""`/metrics`: what the database holds (cases, deadlines, the outbox, mail cursors), the
same on every worker, and what this process counted, parsed as Prometheus reads it."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messages import Outbound
from bot.router import ComplaintBot
from complaintbot.metrics import Metrics, authorized
from storage.database import create_engine
from storage.figures import LIMITS
from storage.mail_cursors import SqlMailCursors
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_followup import make_bot, timings
from tests.bot.test_service import CHINESE_INTAKE, ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: Metrics) -> Samples:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def filing(
    engine: AsyncEngine, tmp_path: Path, clock: FakeClock
) -> tuple[ComplaintBot, SqlRepository, SqlOutbox]:
    """The bot on `engine`, with limits of one hour for the receipt and the first
    response and ten for the resolution (reminders at half and 80 % of each)."""
    repository = SqlRepository(engine, tmp_path / "data", clock)
    return (
        make_bot(repository, clock, timings(tmp_path)),
        repository,
        SqlOutbox(engine, tmp_path / "data"),
    )


async def test_cases_deadlines_and_the_outbox_as_the_database_holds_them(
    engine: AsyncEngine, tmp_path: Path, clock: FakeClock
) -> None:
    bot, repository, outbox = filing(engine, tmp_path, clock)
    await play(Chat(bot, outbox, clock, user="1001"), ENGLISH_INTAKE)
    await play(Chat(bot, outbox, clock, user="1002", language_code="zh"), CHINESE_INTAKE)
    queued = clock.now()
    async with repository.conversation("test", "1001", "test") as tx:
        for text in ("one", "two"):
            await tx.enqueue(Outbound("test", "1001", text), "reply", queued)
        await tx.enqueue(Outbound("test", "1001", "reminder"), "reply", queued, notice=True)
    metrics = Metrics(clock, channels=["test", "email"], min_interval=0)

    clock.advance(seconds=90)
    await metrics.refresh(engine)
    seen = scrape(metrics)
    assert value(seen, "complaintbot_database_figures_up") == 1
    assert value(seen, "complaintbot_cases_opened_total", channel="test", category="appeal") == 1
    assert value(seen, "complaintbot_cases_opened_total", channel="test", category="report") == 1
    assert value(seen, "complaintbot_open_cases") == 2
    assert value(seen, "complaintbot_outbox_depth", channel="test", lane="answer") == 2
    assert value(seen, "complaintbot_outbox_depth", channel="test", lane="notice") == 1
    assert value(seen, "complaintbot_outbox_depth", channel="email", lane="answer") == 0
    age = "complaintbot_outbox_oldest_age_seconds"
    assert value(seen, age, channel="test", lane="answer") == 90
    assert value(seen, age, channel="email", lane="notice") == 0
    overdue = "complaintbot_overdue_cases"
    assert [value(seen, overdue, limit=limit) for limit in LIMITS] == [0, 0, 0]

    # Two hours on: both receipts went out in time, no agent has answered either.
    clock.advance(hours=2)
    await metrics.refresh(engine)
    seen = scrape(metrics)
    assert [value(seen, overdue, limit=limit) for limit in LIMITS] == [0, 2, 0]
    assert value(seen, age, channel="test", lane="answer") == 90 + 2 * 3600
    # Ten hours on, the resolution limit has passed too.
    clock.advance(hours=9)
    await metrics.refresh(engine)
    assert [value(scrape(metrics), overdue, limit=limit) for limit in LIMITS] == [0, 2, 2]


async def test_a_sweep_counts_the_timers_it_fired_by_kind(
    engine: AsyncEngine, tmp_path: Path, clock: FakeClock
) -> None:
    bot, _repository, outbox = filing(engine, tmp_path, clock)
    chat = Chat(bot, outbox, clock)
    await play(chat, ENGLISH_INTAKE)
    metrics = Metrics(clock, min_interval=0)

    clock.advance(minutes=31)  # the first reminder of the first response (at half of 1 h)
    started = time.perf_counter()
    handled = await bot.sweep()
    metrics.swept(time.perf_counter() - started, bot.timers.last_fired)
    seen = scrape(metrics)
    assert handled == 1
    # The kind without the reminder's share (remind:first_response:50): one series a limit.
    assert value(seen, "complaintbot_timers_fired_total", kind="remind:first_response") == 1
    assert value(seen, "complaintbot_sweep_duration_seconds_count") == 1


async def test_counts_of_this_process_and_the_mailbox_lag(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    metrics = Metrics(clock, channels=["telegram"], min_interval=0)
    for outcome in ("stored", "stored", "duplicate", "refused"):
        metrics.inbound("telegram", outcome)
    metrics.sent("telegram", "sent", 0.3)
    metrics.sent("telegram", "sent", 45.0)
    metrics.sent("telegram", "429", None)
    # The IMAP poller read a mail at 02:00 (the cursor moved); its quiet pass over the
    # other mailbox, two minutes later, is known to this process only.
    cursors = SqlMailCursors(engine, clock)
    await cursors.save("support@example.org", 7, 12)
    await cursors.save("sales@example.org", 3, 5)
    clock.advance(minutes=2)
    await metrics.checked_cursors(cursors).load("sales@example.org")
    clock.advance(seconds=10)
    await metrics.refresh(engine)

    seen = scrape(metrics)
    inbound = "complaintbot_inbound_total"
    assert value(seen, inbound, channel="telegram", outcome="stored") == 2
    assert value(seen, inbound, channel="telegram", outcome="undecodable") == 0
    assert value(seen, "complaintbot_sends_total", channel="telegram", outcome="429") == 1
    assert value(seen, "complaintbot_sends_total", channel="telegram", outcome="failed") == 0
    latency = "complaintbot_delivery_latency_seconds"
    assert value(seen, f"{latency}_count", channel="telegram") == 2
    assert value(seen, f"{latency}_bucket", channel="telegram", le="1.0") == 1
    assert value(seen, f"{latency}_bucket", channel="telegram", le="60.0") == 2
    lag = "complaintbot_imap_cursor_lag_seconds"
    assert value(seen, lag, account="support@example.org") == 130
    assert value(seen, lag, account="sales@example.org") == 10


async def test_a_database_that_cannot_be_read_leaves_the_counts_of_this_process(
    tmp_path: Path, clock: FakeClock
) -> None:
    # A database without the tables (never migrated): every read fails.
    unreadable = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    metrics = Metrics(clock, min_interval=0)
    metrics.inbound("email", "undecodable")
    try:
        await metrics.refresh(unreadable)
    finally:
        await unreadable.dispose()
    seen = scrape(metrics)
    assert value(seen, "complaintbot_database_figures_up") == 0
    assert value(seen, "complaintbot_inbound_total", channel="email", outcome="undecodable") == 1
    assert value(seen, "complaintbot_open_cases") is None


async def test_scrapes_close_together_share_one_read(
    engine: AsyncEngine, tmp_path: Path, clock: FakeClock
) -> None:
    metrics = Metrics(clock, min_interval=5, monotonic=clock.monotonic)
    await metrics.refresh(engine)
    repository = SqlRepository(engine, tmp_path / "data", clock)
    async with repository.conversation("test", "1001", "test") as tx:
        await tx.enqueue(Outbound("test", "1001", "hello"), "reply", clock.now())
    depth = "complaintbot_outbox_depth"
    clock.advance(seconds=4)
    await metrics.refresh(engine)
    assert value(scrape(metrics), depth, channel="test", lane="answer") is None
    clock.advance(seconds=1)
    await metrics.refresh(engine)
    assert value(scrape(metrics), depth, channel="test", lane="answer") == 1


def test_a_metrics_token_lets_in_only_its_bearer() -> None:
    assert authorized(None, None)
    assert authorized("Bearer anything", None)
    assert authorized("Bearer s3cret", "s3cret")
    assert authorized("bearer  s3cret ", "s3cret")
    assert not authorized(None, "s3cret")
    assert not authorized("Bearer s3cre", "s3cret")
    assert not authorized("Basic s3cret", "s3cret")
    assert not authorized("s3cret", "s3cret")
    assert not authorized("Bearer 密码", "s3cret")
