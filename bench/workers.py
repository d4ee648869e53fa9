"""Several `complaintbot serve` workers on one PostgreSQL: webhook throughput with 1 and
2 workers, and a worker killed under load.

    python -m bench.workers [--people 1000] [--messages 2] [--workers 1,2] [--repeat N]
    python -m bench.workers --failover [--people 200] [--spread 15]

Each run has a PostgreSQL database of its own (in one throwaway cluster), the Bot API
stand-in delivering updates by webhook (Telegram's limits off, as the issue asks) to the
workers through a round-robin balancer on 127.0.0.1, and N processes of
`python -m complaintbot serve` (LOG_LEVEL=WARNING).

Throughput: PEOPLE stand-in users each send the first MESSAGES messages of an intake
(`/new`, then the problem), all at once; the stand-in delivers them as Telegram does (in
order per chat, 40 at a time). Printed per number of workers: updates handled per
second (from the first POST to the last update marked handled or reply queued, read
from `raw_updates.handled_at` and `outbox.created_at`), p50 and p99 from an update's
first POST to its reply queued, the time until every reply was sent; CPU per update of
the workers together and of each (utime + stime from /proc/PID/stat, from the first
POST until all was sent), of PostgreSQL (the postmaster and its backends) and of the
bench's process (stand-in and balancer); PostgreSQL's transactions per update (its
statistics of the run's database); how busy the machine's CPUs were meanwhile and how
much of that was this run's (other work on the machine slows a run down);
lost (updates not handled, messages not answered) and duplicated (a transport id
stored twice, a reply got twice). Then 2 workers / 1 worker next to the issue's goals:
at least 1.3x the updates per second, CPU per update not higher. `--repeat N` measures
the counts N times in turn and compares each count's best run.

`--failover`: 3 workers; PEOPLE people, starting spread over SPREAD seconds, each send
the same messages one after the other, waiting for each answer; when a third of the
people have been answered the worker sending the most replies (every worker sends: the
one whose `complaintbot_sends_total` grows fastest) is killed with SIGKILL. Printed:
lost, duplicated, the longest wait of any message for its answer (send to the answer
arriving), also of those answered before the kill, waiting at it and sent after it, the
seconds until another worker's sweep ran (its `complaintbot_sweep_duration_seconds_count`
grew; the sweep runs every second here) and the webhook deliveries Telegram had to try again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import resource
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from bench.turns import INTAKE, NoAnswer, Person, Turn, percentile
from storage import migrate
from storage.database import create_engine
from storage.models import Message, OutboxItem, RawUpdate
from tests.support.postgres import PostgresCluster
from tests.support.telegram_api import FakeBotApi, FakeUser
from tests.support.waiting import eventually
from tests.support.workers import PUBLIC, Balancer, Workers, webhook_env

SCALING_GOAL = 1.3  # 2 workers' updates per second / 1 worker's, at least (issue #17)
WITHIN = 300.0  # seconds a run may take to handle everything before the bench gives up
LOOK = 0.25  # seconds between the bench's looks at the database while it waits
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The first turns of an intake (`/new`, then the problem): what each person sends, and a
# fragment of its answer.
TURNS = [(value, expect) for _action, value, expect in INTAKE[:2]]


# ----- CPU time ---------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command (whose name may hold spaces): [0] is
    the state, [11] utime, [12] stime, [13] cutime, [14] cstime (in clock ticks)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User and system CPU a live process has used so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, of its children that ended (reaped) and of those still running:
    PostgreSQL's postmaster and its backends."""
    fields = _stat(pid)
    total = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            child = _stat(int(entry.name))
            if int(child[1]) == pid:
                total += (int(child[11]) + int(child[12])) / CLOCK_TICKS
    return total


def machine_cpu_seconds() -> float:
    """CPU all processes on the machine have used since boot (/proc/stat: user, nice,
    system, irq, softirq), to tell the bench's CPU from others' sharing it."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = [int(fields[i]) for i in (0, 1, 2, 5, 6)]
    return sum(busy) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----- the workers -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(
    api: FakeBotApi, database_url: str, directory: Path, count: int, **more: Any
) -> AsyncIterator[Workers]:
    """`count` workers, ready, behind a round-robin balancer the webhook is routed to."""
    env = webhook_env(
        api,
        database_url,
        directory / "data",
        INBOUND_MESSAGES_PER_MINUTE=0,
        LOG_LEVEL="WARNING",
        **more,
    )
    async with (
        Workers(env, directory / "workers", count, prefix="w") as workers,
        Balancer(workers.urls) as balancer,
    ):
        api.route(PUBLIC, balancer.url)
        yield workers


# ----- a run ----------------------------------------------------------------------------


@dataclass
class Stored:
    """What the database holds after a run."""

    updates: int
    handled: int
    handled_at: list[datetime]
    transport_ids: int
    distinct_ids: int
    retried: int  # replies the outbox tried more than once
    # conversation -> the times its replies were queued, oldest first
    queued: dict[str, list[datetime]] = field(default_factory=dict)
    last_sent: datetime | None = None


async def _counts(engine: AsyncEngine) -> tuple[int, int, int, int]:
    """Updates stored, handled; replies queued, sent."""
    async with AsyncSession(engine) as session:
        stored = await session.scalar(select(func.count()).select_from(RawUpdate))
        handled = await session.scalar(
            select(func.count()).select_from(RawUpdate).where(col(RawUpdate.state) == "handled")
        )
        queued = await session.scalar(select(func.count()).select_from(OutboxItem))
        sent = await session.scalar(
            select(func.count()).select_from(OutboxItem).where(col(OutboxItem.status) == "sent")
        )
    return stored or 0, handled or 0, queued or 0, sent or 0


async def wait_settled(engine: AsyncEngine, updates: int, within: float = WITHIN) -> None:
    """Until all `updates` are handled and every queued reply sent (at least one each)."""
    deadline = time.monotonic() + within
    while True:
        stored, handled, queued, sent = await _counts(engine)
        if handled >= updates and queued >= updates and sent == queued:
            return
        if time.monotonic() > deadline:
            print(
                f"not settled within {within:.0f} s: {stored} stored, {handled} handled, "
                f"{queued} replies queued, {sent} sent"
            )
            return
        await asyncio.sleep(LOOK)  # the bench's look at the database


async def read_stored(engine: AsyncEngine) -> Stored:
    async with AsyncSession(engine) as session:
        raw = (await session.execute(select(col(RawUpdate.state), col(RawUpdate.handled_at)))).all()
        ids = (
            await session.scalars(
                select(col(Message.transport_id)).where(col(Message.direction) == "in")
            )
        ).all()
        replies = (
            await session.execute(
                select(
                    col(OutboxItem.conversation),
                    col(OutboxItem.created_at),
                    col(OutboxItem.sent_at),
                    col(OutboxItem.attempts),
                )
            )
        ).all()
    queued: dict[str, list[datetime]] = {}
    for conversation, created, _sent, _attempts in replies:
        queued.setdefault(conversation, []).append(created)
    for times in queued.values():
        times.sort()
    sent = [s for _c, _q, s, _a in replies if s is not None]
    return Stored(
        updates=len(raw),
        handled=sum(1 for state, _at in raw if state == "handled"),
        handled_at=[at for state, at in raw if state == "handled" and at is not None],
        transport_ids=len(ids),
        distinct_ids=len(set(ids)),
        retried=sum(1 for *_row, attempts in replies if attempts > 1),
        queued=queued,
        last_sent=max(sent, default=None),
    )


@dataclass(frozen=True)
class Tally:
    """Lost and duplicated, as the database and the people see them."""

    lost: int  # updates sent but not handled
    unanswered: int  # messages without a reply in their chat
    stored_twice: int  # a transport id stored more than once
    got_twice: int  # the same reply got more than once in a chat
    retried: int  # replies the outbox tried more than once

    @classmethod
    def of(cls, stored: Stored, users: Sequence[FakeUser]) -> Tally:
        sent = sum(len(user.sent) for user in users)
        # Each message here is answered with a text of its own (no two alike in a chat).
        distinct = [len(set(user.texts())) for user in users]
        return cls(
            lost=sent - stored.handled,
            unanswered=sum(max(0, len(u.sent) - d) for u, d in zip(users, distinct, strict=True)),
            stored_twice=stored.transport_ids - stored.distinct_ids,
            got_twice=sum(len(u.texts()) - d for u, d in zip(users, distinct, strict=True)),
            retried=stored.retried,
        )

    def __str__(self) -> str:
        return (
            f"lost {self.lost} (unanswered {self.unanswered}), duplicated: stored twice "
            f"{self.stored_twice}, replies got twice {self.got_twice} (replies tried again "
            f"{self.retried})"
        )


@contextlib.asynccontextmanager
async def fresh_database(cluster: PostgresCluster, name: str) -> AsyncIterator[str]:
    await cluster.create_database(name)
    url = cluster.url(name)
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    try:
        yield url
    finally:
        await cluster.drop_database(name)


async def _admin_value(cluster: PostgresCluster, sql: str, *arguments: object) -> Any:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", database="postgres"
    )
    try:
        return await connection.fetchval(sql, *arguments)
    finally:
        await connection.close()


async def transactions(cluster: PostgresCluster, database: str) -> int:
    """Transactions committed and rolled back in `database`, as PostgreSQL has counted
    them so far (a backend reports its own now and then, and when it ends)."""
    return int(
        await _admin_value(
            cluster,
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            database,
        )
    )


async def _no_backends(cluster: PostgresCluster, database: str) -> bool:
    count = await _admin_value(
        cluster, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
    )
    return int(count) == 0


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


class Wall:
    """The stand-in times deliveries by time.monotonic(); the workers store wall-clock
    times: one offset between the two, taken once (same machine, same clocks)."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()

    def of(self, monotonic: float) -> float:
        return monotonic + self.offset


# ----- throughput ---------------------------------------------------------------------


@dataclass
class Throughput:
    workers: int
    updates: int
    elapsed: float  # first POST to the last update handled or reply queued
    until_sent: float  # first POST to the last reply sent
    latencies: list[float]  # first POST to reply queued, per update
    worker_cpu: list[float]
    postgres_cpu: float
    bench_cpu: float
    machine_cpu: float  # every process's, over `window`
    window: float  # seconds the CPU figures were taken over: the first POST to settled
    tally: Tally
    transactions: int  # PostgreSQL's, in the run's database, from the first POST on

    @property
    def rate(self) -> float:
        return self.updates / self.elapsed

    @property
    def cpu_per_update(self) -> float:
        return sum(self.worker_cpu) / self.updates

    def show(self) -> None:
        each = ", ".join(f"{cpu / self.updates * 1000:.2f}" for cpu in self.worker_cpu)
        print(
            f"{self.workers} worker(s): {self.updates} updates in {self.elapsed:.1f} s, "
            f"{self.rate:.1f} updates/s; POST to reply queued p50 "
            f"{percentile(self.latencies, 0.5) * 1000:.0f} ms, p99 "
            f"{percentile(self.latencies, 0.99) * 1000:.0f} ms; all replies sent after "
            f"{self.until_sent:.1f} s"
        )
        print(
            f"  CPU per update: workers {self.cpu_per_update * 1000:.2f} ms (each: {each}), "
            f"PostgreSQL {self.postgres_cpu / self.updates * 1000:.2f} ms, bench (stand-in, "
            f"balancer) {self.bench_cpu / self.updates * 1000:.2f} ms; PostgreSQL "
            f"transactions per update {self.transactions / self.updates:.1f}"
        )
        print(f"  {self.tally}")
        ours = sum(self.worker_cpu) + self.postgres_cpu + self.bench_cpu
        print(
            f"  CPUs busy meanwhile: {self.machine_cpu / self.window:.2f} of "
            f"{os.cpu_count()}, {ours / self.window:.2f} of them this run's (workers "
            f"{sum(self.worker_cpu) / self.window:.2f}, PostgreSQL "
            f"{self.postgres_cpu / self.window:.2f}, bench {self.bench_cpu / self.window:.2f})"
        )


async def measure(
    cluster: PostgresCluster, count: int, people: int, messages: int, directory: Path
) -> Throughput:
    database = f"workers_{directory.name}"
    async with fresh_database(cluster, database) as url, FakeBotApi() as api:
        engine = create_engine(url)
        try:
            async with serving(api, url, directory, count) as workers:
                users = [api.user(50_000 + n, f"Person {n}", "en") for n in range(people)]
                wall = Wall()
                postmaster = postmaster_pid(cluster)
                xacts_before = await transactions(cluster, database)
                before = [cpu_seconds(w.pid) for w in workers]
                pg_before, own_before = tree_cpu_seconds(postmaster), own_cpu_seconds()
                machine_before, began = machine_cpu_seconds(), time.monotonic()
                pushed = await _push(users, messages)
                await wait_settled(engine, len(pushed))
                after = [cpu_seconds(w.pid) for w in workers]
                pg_after, own_after = tree_cpu_seconds(postmaster), own_cpu_seconds()
                machine_after, ended = machine_cpu_seconds(), time.monotonic()
                stored = await read_stored(engine)
        finally:
            await engine.dispose()
        # A backend reports its transactions at the latest when it ends.
        await eventually(lambda: _no_backends(cluster, database), within=30)
        xacts = await transactions(cluster, database) - xacts_before
    first_posts = _first_posts(api, wall)
    start = min(first_posts.values())
    ends = [*stored.handled_at, *(t for ts in stored.queued.values() for t in ts)]
    last = max(t.timestamp() for t in ends)
    sent_end = stored.last_sent.timestamp() if stored.last_sent else math.nan
    latencies = _queued_latencies(pushed, first_posts, stored.queued)
    return Throughput(
        workers=count,
        updates=len(pushed),
        elapsed=last - start,
        until_sent=sent_end - start,
        latencies=latencies,
        worker_cpu=[b - a for a, b in zip(before, after, strict=True)],
        postgres_cpu=pg_after - pg_before,
        bench_cpu=own_after - own_before,
        machine_cpu=machine_after - machine_before,
        window=ended - began,
        tally=Tally.of(stored, users),
        transactions=xacts,
    )


async def _push(users: Sequence[FakeUser], messages: int) -> list[dict[str, Any]]:
    """Every person's messages at once; the stand-in delivers each chat's in order."""
    pushed = []
    for value, _expect in TURNS[:messages]:
        for user in users:
            pushed.append(await user.send_text(value))
    return pushed


def _first_posts(api: FakeBotApi, wall: Wall) -> dict[int, float]:
    """update_id -> the wall-clock start of its first delivery attempt."""
    first: dict[int, float] = {}
    for delivery in api.deliveries:
        first.setdefault(delivery.update_id, wall.of(delivery.started))
    return first


def _queued_latencies(
    pushed: Sequence[dict[str, Any]],
    first_posts: dict[int, float],
    queued: dict[str, list[datetime]],
) -> list[float]:
    """Per update, its first POST to the first reply queued in its chat after it that no
    earlier update of the chat took (each message here gets one reply)."""
    by_chat: dict[str, list[dict[str, Any]]] = {}
    for update in pushed:
        by_chat.setdefault(str(update["message"]["chat"]["id"]), []).append(update)
    latencies = []
    for chat, updates in by_chat.items():
        replies = [t.timestamp() for t in queued.get(chat, [])]
        used = 0
        for update in sorted(updates, key=lambda u: int(u["update_id"])):
            posted = first_posts.get(int(update["update_id"]))
            if posted is None:
                continue
            while used < len(replies) and replies[used] < posted:
                used += 1
            if used < len(replies):
                latencies.append(replies[used] - posted)
                used += 1
    return latencies


async def throughput(people: int, messages: int, counts: Sequence[int], repeat: int) -> None:
    print(
        f"{people} people sending {messages} message(s) each by webhook, all at once, to "
        f"{' then '.join(map(str, counts))} worker(s) on one PostgreSQL "
        f"({os.cpu_count()} CPUs here; Telegram's limits off)"
        + (f", {repeat} rounds, each count's best kept" if repeat > 1 else "")
    )
    results: dict[int, Throughput] = {}
    with tempfile.TemporaryDirectory() as name, PostgresCluster() as cluster:
        # Rounds alternate the counts, so other work on the machine falls on each alike.
        for round_ in range(1, repeat + 1):
            for count in counts:
                directory = Path(name) / f"{count}_{round_}"
                figures = await measure(cluster, count, people, messages, directory)
                if repeat > 1:
                    print(f"round {round_}: ", end="")
                figures.show()
                best = results.get(count)
                if best is None or figures.rate > best.rate:
                    results[count] = figures
    if 1 in results and 2 in results:
        one, two = results[1], results[2]
        ratio = two.rate / one.rate
        cpu = two.cpu_per_update / one.cpu_per_update
        print(
            f"2 workers / 1: updates/s {ratio:.2f}x (goal >= {SCALING_GOAL}x: "
            f"{'met' if ratio >= SCALING_GOAL else 'MISSED'}); CPU per update {cpu:.2f}x "
            f"(goal <= 1.00x: {'met' if cpu <= 1.0 else 'MISSED'}); p99 "
            f"{percentile(two.latencies, 0.99) / percentile(one.latencies, 0.99):.2f}x"
        )


# ----- failover ------------------------------------------------------------------------

SWEEPS = "complaintbot_sweep_duration_seconds_count"
SENDS = "complaintbot_sends_total"
SENT = {"channel": "telegram", "outcome": "sent"}


async def failover(people: int, spread: float) -> None:
    print(
        f"failover: {people} people, starting over {spread:.0f} s, each sending "
        f"{len(TURNS)} messages one after the other (waiting for each answer) to 3 workers; "
        f"the one sending the replies is killed with SIGKILL when a third have been answered"
    )
    with tempfile.TemporaryDirectory() as name, PostgresCluster() as cluster:
        async with (
            fresh_database(cluster, "failover") as url,
            FakeBotApi() as api,
            serving(api, url, Path(name), 3, SWEEP_INTERVAL_SECONDS=1) as workers,
        ):
            engine = create_engine(url)
            try:
                persons = [Person(api.user(60_000 + n, f"Person {n}", "en")) for n in range(people)]
                progress = Progress(people // 3)
                talking = [
                    asyncio.create_task(_talk(person, n * spread / people, progress))
                    for n, person in enumerate(persons)
                ]
                await progress.reached.wait()
                killed = await _kill_sender(workers, progress)
                answered = sum(await asyncio.gather(*talking))
                await wait_settled(engine, sum(len(p.user.sent) for p in persons), within=60)
                stored = await read_stored(engine)
            finally:
                await engine.dispose()
    turns = [turn for person in persons for turn in person.turns]
    tally = Tally.of(stored, [p.user for p in persons])
    before = [t for t in turns if t.first < killed.at]
    around = [t for t in turns if t.sent <= killed.at <= t.first]
    after = [t for t in turns if t.sent > killed.at]
    print(
        f"killed {killed.name} when {killed.progress} people were through; {answered} of "
        f"{people} got every answer; {tally}"
    )
    print(
        f"longest wait for an answer (send to answer): {_longest(turns):.2f} s of all "
        f"{len(turns)} messages; {_longest(before):.2f} s of the {len(before)} answered before "
        f"the kill, {_longest(around):.2f} s of the {len(around)} waiting at it, "
        f"{_longest(after):.2f} s of the {len(after)} sent after it"
    )
    refused = sum(1 for d in api.deliveries if not d.accepted)
    print(
        f"the sweep ran again in another worker {killed.sweep_resumed:.2f} s after the kill; "
        f"webhook deliveries Telegram had to try again: {refused}"
    )


class Progress:
    """People through (answered, or given up); `reached` is set when `mark` of them are."""

    def __init__(self, mark: int) -> None:
        self.mark = mark
        self.done = 0
        self.reached = asyncio.Event()

    def one_more(self) -> None:
        self.done += 1
        if self.done >= self.mark:
            self.reached.set()


@dataclass
class Killed:
    name: str
    at: float  # time.perf_counter(), as the people's turns are timed
    progress: int  # people through by then
    sweep_resumed: float  # seconds from the kill until a survivor's sweep count grew


def _longest(turns: Sequence[Turn]) -> float:
    return max((t.first - t.sent for t in turns), default=math.nan)


async def _talk(person: Person, delay: float, progress: Progress) -> bool:
    person.within = 60.0
    await asyncio.sleep(delay)  # people start one after the other
    try:
        for value, expect in TURNS:
            await person.turn("text", value, expect)
    except NoAnswer as error:
        print(f"no answer: {error}")
        return False
    finally:
        progress.one_more()  # answered or given up: the kill must not wait for either
    return True


async def _kill_sender(workers: Workers, progress: Progress) -> Killed:
    """Kills the worker sending the most replies (its sends grow fastest) and scrapes
    the others until one of them has swept."""
    counts = await workers.samples(SENDS, **SENT)
    await asyncio.sleep(1.5)  # more than one sweep interval: sends and sweeps meanwhile
    later = await workers.samples(SENDS, **SENT)
    victim = max(workers, key=lambda w: (later[w.name] or 0) - (counts[w.name] or 0))
    done = progress.done
    survivors = [w for w in workers if w is not victim]
    before = {w.name: await w.sample(SWEEPS) or 0 for w in survivors}
    victim.kill()
    await victim.wait()
    at = time.perf_counter()
    while time.perf_counter() - at < 60:
        for worker in survivors:
            if (await worker.sample(SWEEPS) or 0) > before[worker.name]:
                return Killed(victim.name, at, done, time.perf_counter() - at)
        await asyncio.sleep(0.05)  # the next scrape
    return Killed(victim.name, at, done, math.inf)


# ----- the command -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--people", type=int, help="simulated people (1000; 200 with --failover)")
    parser.add_argument(
        "--messages", type=int, default=2, help=f"messages each (1-{len(TURNS)}; throughput)"
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, one by one")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds over the counts; each count's best compared"
    )
    parser.add_argument("--failover", action="store_true", help="3 workers, one killed")
    parser.add_argument(
        "--spread", type=float, default=15.0, help="seconds over which people start (failover)"
    )
    options = parser.parse_args(argv)
    # A connection cut by a kill is expected here, not an error of the stand-in's.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    if options.failover:
        asyncio.run(failover(options.people or 200, options.spread))
    else:
        counts = [int(n) for n in options.workers.split(",")]
        messages = max(1, min(options.messages, len(TURNS)))
        asyncio.run(throughput(options.people or 1000, messages, counts, max(1, options.repeat)))


if __name__ == "__main__":
    main()
