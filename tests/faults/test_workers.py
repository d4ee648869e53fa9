"""Several `complaintbot serve` processes on one PostgreSQL database (#17), as deployed:
Telegram's webhook deliveries reach them through a round-robin proxy (deploy/nginx.conf).

- Three workers share the traffic: every update is handled once, each person's
  messages are stored in the order sent, everyone is answered, and every worker sends.
- A worker is killed (SIGKILL) under traffic: nothing is lost or doubled, nobody waits
  more than 10 s for an answer, and the sweep goes on elsewhere.
- With Telegram's limits on, a burst of replies sent by all three workers and a kill of
  one get 0 x 429 (unpaced, the same burst gets 32).
- The worker reading the mailbox is killed: the other reads and answers the next mail.
- A worker stops by SIGTERM under traffic: it exits 0 in time, and nothing is lost or
  doubled.

Real processes (`tests/support/workers.py`), the Bot API stand-in, dovecot and aiosmtpd.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import create_engine
from storage.models import Case, Message, RawUpdate
from tests.channels import mail_corpus as corpus
from tests.channels.test_email_end_to_end import _mail_settings
from tests.complaintbot.test_restart import all_delivered
from tests.conftest import _TEMPLATE, BACKENDS
from tests.support.dovecot import Dovecot
from tests.support.postgres import PostgresCluster
from tests.support.smtp_server import SmtpServer
from tests.support.telegram_api import FakeBotApi, FakeUser
from tests.support.waiting import eventually
from tests.support.workers import (
    PUBLIC,
    Balancer,
    WorkerProcess,
    Workers,
    serve_env,
    shown_on_failure,
    webhook_env,
)

pytestmark = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="several workers share one database only on PostgreSQL"
)

ANSWER = "Add more if you like"  # the bot's answer to each part of a description
GRACE = 5.0  # SHUTDOWN_GRACE_SECONDS of the workers here
WAIT_LIMIT = 10.0  # seconds a person may wait for an answer, a kill included
IN_FLIGHT = 1.0  # after a kill, a request the killed worker had written may still arrive
_names = itertools.count(1)


@pytest.fixture
async def pg_url(postgres: PostgresCluster) -> AsyncIterator[str]:
    """A migrated, empty database on the session's PostgreSQL."""
    name = f"workers_{os.getpid()}_{next(_names)}"
    await postgres.create_database(name, template=_TEMPLATE)
    yield postgres.url(name)
    await postgres.drop_database(name)


@pytest.fixture
def crowd(api: FakeBotApi) -> Crowd:
    """Thirty people who write to the bot in English."""
    return Crowd(api, [api.user(7100 + n, f"Person {n}", "en") for n in range(30)])


@asynccontextmanager
async def behind_a_proxy(
    api: FakeBotApi, url: str, tmp_path: Path, count: int
) -> AsyncIterator[tuple[Workers, Balancer]]:
    """`count` workers, ready, with Telegram's deliveries going through the balancer."""
    async with (
        Workers(
            webhook_env(
                api, url, tmp_path / "data", SWEEP_INTERVAL_SECONDS=1, SHUTDOWN_GRACE_SECONDS=GRACE
            ),
            tmp_path / "workers",
            count,
        ) as workers,
        Balancer(workers.urls) as balancer,
    ):
        api.route(PUBLIC, balancer.url)
        with shown_on_failure(workers):
            yield workers, balancer


class Crowd:
    """People on the stand-in, and when each bot message reached each one's chat, as
    the stand-in saw it: noted at every change of the stand-in while `watch` runs."""

    def __init__(self, api: FakeBotApi, people: list[FakeUser]) -> None:
        self.api = api
        self.people = people
        self.sent_at: dict[int, list[float]] = {}
        self.answered_at: dict[int, list[float]] = {}
        # Per person, the bot messages no worker recorded as sent (by position).
        self.copies: dict[int, set[int]] = {user.id: set() for user in people}

    def _note(self) -> bool:
        now = time.monotonic()
        for user in self.people:
            times = self.answered_at.setdefault(user.id, [])
            times.extend(now for _ in range(len(user.messages) - len(times)))
        return False

    @asynccontextmanager
    async def watch(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.api.wait_until(self._note, within=3600))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._note()

    async def send(self, user: FakeUser, text: str) -> None:
        await user.send_text(text)
        self.sent_at.setdefault(user.id, []).append(time.monotonic())

    async def converse(self, user: FakeUser) -> None:
        """The person sends the parts of a description one by one, each after the bot's
        answer to the one before."""
        for text in parts(user):
            mark = len(user.messages)
            await self.send(user, text)
            await user.expect(ANSWER, since=mark, within=60)

    async def steady_traffic(self, at_once: int) -> None:
        """`at_once` people talk to the bot at any time, the next starting as one ends."""
        queue = iter(self.people)

        async def lane() -> None:
            for user in queue:
                await self.converse(user)

        await asyncio.gather(*(lane() for _ in range(at_once)))

    @asynccontextmanager
    async def under_traffic(self) -> AsyncIterator[None]:
        """Ten people at a time talk to the bot; the block runs once a third of the
        answers are out, and the traffic runs to its end after it."""
        async with self.watch():
            talking = asyncio.create_task(self.steady_traffic(at_once=10))
            try:
                await self.api.wait_until(
                    lambda: self.answers() >= len(self.people) or talking.done(), within=60
                )
                assert not talking.done(), "the traffic ended too soon"
                yield
                await asyncio.wait_for(talking, 90)
            finally:
                talking.cancel()
                await asyncio.gather(talking, return_exceptions=True)

    def answers(self) -> int:
        return sum(len(user.messages) for user in self.people)

    def longest_wait(self) -> float:
        """The longest wait of a message: from its sending to the answer of its rank
        (a copy left by a killed worker not counted: see `assert_handled_once`)."""
        return max(
            answered - sent
            for user in self.people
            for sent, answered in zip(self.sent_at[user.id], self._answers(user), strict=False)
        )

    def _answers(self, user: FakeUser) -> list[float]:
        """When the answers recorded as sent reached the person."""
        copies = self.copies[user.id]
        return [at for n, at in enumerate(self.answered_at[user.id]) if n not in copies]

    async def assert_handled_once(self, url: str, killed_at: float | None = None) -> int:
        """Every update handled, one inbound message per update, each person's stored in
        the order sent, and each person answered once per message, recorded as sent.

        With `killed_at` (a kill of the worker sending the replies), a person may also
        have one copy no one recorded: the killed worker had it accepted by Telegram
        before it died, before it could record it, and the next sender sent it again
        (delivery is at-least-once, `delivery/dispatcher.py`). Returns how many such
        copies there are."""
        await eventually(lambda: all_delivered(url), within=30)
        self._note()  # answers that came after the watch: as of now
        sent = sum(len(user.sent) for user in self.people)
        states = dict(await stored(url, RawUpdate.state, func.count(), group_by=RawUpdate.state))
        assert states == {"handled": sent}, states
        inbound = await stored(
            url,
            Message.conversation,
            Message.transport_id,
            Message.text,
            where=Message.direction == "in",
            order_by=Message.id,
        )
        assert len(inbound) == len({transport for _c, transport, _t in inbound}) == sent
        recorded = {
            t for (t,) in await stored(url, Message.transport_id, where=Message.direction == "out")
        }
        for user in self.people:
            texts = [text for conversation, _t, text in inbound if conversation == str(user.id)]
            assert texts == [message["text"] for message in user.sent], user.id
            self.copies[user.id] = {
                n
                for n, message in enumerate(user.messages)
                if f"{user.id}:{message['message_id']}" not in recorded
            }
            assert len(user.messages) - len(self.copies[user.id]) == len(user.sent), user.texts()
            assert all(ANSWER in text for text in user.texts()), (user.id, user.texts())
            if killed_at is None:
                assert not self.copies[user.id], (user.id, user.texts())
            else:
                assert len(self.copies[user.id]) <= 1, (user.id, user.texts())
                arrived = self.answered_at[user.id]
                # The killed worker's last request may be read by the stand-in just
                # after the kill: the kernel still delivers what it had written.
                late = killed_at + IN_FLIGHT
                assert all(arrived[n] < late for n in self.copies[user.id]), (arrived, killed_at)
        return sum(len(copies) for copies in self.copies.values())


def parts(user: FakeUser) -> list[str]:
    return [f"Complaint of {user.id}, part {n}: the line drops at night" for n in range(3)]


async def replies_sent(workers: Workers) -> dict[str, float]:
    """How many replies each worker alive has sent."""
    sent = await workers.samples("complaintbot_sends_total", channel="telegram", outcome="sent")
    return {worker.name: sent[worker.name] or 0 for worker in workers.alive}


async def busiest_sender(workers: Workers) -> WorkerProcess:
    """The worker alive that has sent the most replies (every worker sends)."""
    sent = await replies_sent(workers)
    return max(workers.alive, key=lambda worker: sent[worker.name])


async def stored(
    url: str, *what: Any, where: Any = None, group_by: Any = None, order_by: Any = None
) -> list[Any]:
    """Rows of a query on the database at `url`, as stored now."""
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            query = select(*what)
            if where is not None:
                query = query.where(where)
            if group_by is not None:
                query = query.group_by(group_by)
            if order_by is not None:
                query = query.order_by(order_by)
            return [tuple(row) for row in (await session.execute(query)).all()]
    finally:
        await engine.dispose()


async def test_three_workers_share_the_webhook_traffic_each_update_handled_once_in_order(
    crowd: Crowd, pg_url: str, tmp_path: Path
) -> None:
    async with behind_a_proxy(crowd.api, pg_url, tmp_path, 3) as (workers, balancer):
        async with crowd.watch():
            # Each sends the three parts at once: they are stored by whichever worker
            # the proxy picks, and must still be handled in the order sent.
            for user in crowd.people:
                for text in parts(user):
                    await crowd.send(user, text)
            await crowd.api.wait_until(lambda: crowd.answers() >= 90, within=60)
        took = {w.name: len(balancer.passed_to(w.url)) for w in workers}
        handled = await workers.samples(
            "complaintbot_inbound_total", channel="telegram", outcome="stored"
        )
        sent = await replies_sent(workers)
        # Idle, each stops cleanly.
        assert await workers.stop() == {w.name: 0 for w in workers}
    await crowd.assert_handled_once(pg_url)
    # The proxy spread the deliveries over all three workers.
    assert sum(took.values()) >= 90 and all(n >= 20 for n in took.values()), took
    assert sum(v or 0 for v in handled.values()) == 90, handled
    # Every worker sent replies, from one Telegram budget.
    assert sum(sent.values()) == 90 and all(n > 0 for n in sent.values()), sent
    assert crowd.longest_wait() < WAIT_LIMIT, crowd.longest_wait()


async def test_a_worker_killed_under_traffic_loses_nothing_and_the_sweep_goes_on(
    crowd: Crowd, pg_url: str, tmp_path: Path
) -> None:
    async with behind_a_proxy(crowd.api, pg_url, tmp_path, 3) as (workers, balancer):
        async with crowd.under_traffic():
            # Every worker holds conversations in hand and replies it claimed: the
            # others take both over.
            victim = await busiest_sender(workers)
            survivors = [worker for worker in workers if worker is not victim]
            swept = await workers.samples("complaintbot_sweep_duration_seconds_count")
            victim.kill()
            killed = time.monotonic()
            assert await victim.wait() == -9

            async def sweeping_elsewhere() -> bool:
                now = await workers.samples("complaintbot_sweep_duration_seconds_count")
                return any((now[w.name] or 0) > (swept[w.name] or 0) for w in survivors)

            await eventually(sweeping_elsewhere, within=WAIT_LIMIT)
            sweep_resumed = time.monotonic() - killed
        refused = [a for a in balancer.passed_to(victim.url) if a.status is None]
        after = await replies_sent(workers)
    copies = await crowd.assert_handled_once(pg_url, killed)
    longest = crowd.longest_wait()
    print(
        f"\nkill of a worker: longest wait {longest:.2f} s, sweep again after "
        f"{sweep_resumed:.2f} s, {len(refused)} deliveries went on from the dead worker, "
        f"{copies} answers twice (sent, not recorded, before the kill)"
    )
    assert longest < WAIT_LIMIT, f"someone waited {longest:.1f} s"
    assert refused, "the proxy never met the dead worker: the kill was not under traffic"
    assert all(after[worker.name] > 0 for worker in survivors), after


async def test_three_workers_keep_telegrams_limits_across_a_kill_of_the_sender(
    crowd: Crowd, pg_url: str, tmp_path: Path
) -> None:
    """With Telegram's limits on (the stand-in answers 429 beyond them), all three workers
    send from one budget, also when one of them is killed in the middle of a burst and
    the others take over its replies: 0 x 429."""
    api = crowd.api
    limits = api.enforce_limits(tolerance=0.05)
    telegram_limits = {
        "TELEGRAM_MESSAGES_PER_SECOND": 30,
        "TELEGRAM_CHAT_MESSAGES_PER_SECOND": 1,
        "TELEGRAM_GROUP_MESSAGES_PER_MINUTE": 20,
    }
    env = webhook_env(api, pg_url, tmp_path / "data", **telegram_limits)
    async with (
        Workers(env, tmp_path / "workers", 3) as workers,
        Balancer(workers.urls) as balancer,
    ):
        api.route(PUBLIC, balancer.url)
        with shown_on_failure(workers):
            async with crowd.watch():
                for user in crowd.people:  # 90 updates at once: 3 s of Telegram's budget
                    for text in parts(user):
                        await crowd.send(user, text)
                await api.wait_until(lambda: crowd.answers() >= 30, within=60)
                sent = await replies_sent(workers)
                sender = await busiest_sender(workers)
                sender.kill()
                killed = time.monotonic()
                await api.wait_until(lambda: crowd.answers() >= 90, within=60)
            assert await sender.wait() == -9
    await crowd.assert_handled_once(pg_url, killed)
    assert api.too_many == 0, f"429 x {api.too_many} (kill at {killed}): {limits.refused}"
    assert sum(1 for n in sent.values() if n) >= 2, f"not shared: {sent}"


async def test_a_sigterm_under_traffic_stops_the_worker_in_time_and_loses_nothing(
    crowd: Crowd, pg_url: str, tmp_path: Path
) -> None:
    async with behind_a_proxy(crowd.api, pg_url, tmp_path, 3) as (workers, _balancer):
        async with crowd.under_traffic():
            # It settles its sends before it lets go.
            leaving = await busiest_sender(workers)
            leaving.terminate()
            asked = time.monotonic()
            code = await leaving.wait(GRACE + 10)
            stopped = time.monotonic() - asked
    await crowd.assert_handled_once(pg_url)
    longest = crowd.longest_wait()
    print(f"\nSIGTERM: exited {code} after {stopped:.2f} s; longest wait {longest:.2f} s")
    assert code == 0, leaving.tail()
    assert stopped < GRACE + 3, f"stopped after {stopped:.1f} s"
    assert "stopping" in leaving.output()
    assert longest < WAIT_LIMIT, f"someone waited {longest:.1f} s"


async def test_the_worker_reading_the_mailbox_killed_the_other_reads_the_next_mail(
    dovecot: Dovecot, smtp_server: SmtpServer, pg_url: str, tmp_path: Path
) -> None:
    env = serve_env(
        pg_url,
        tmp_path / "data",
        SWEEP_INTERVAL_SECONDS=1,
        SHUTDOWN_GRACE_SECONDS=GRACE,
        **_mail_settings(dovecot, smtp_server),  # IMAP_POLL_SECONDS=1
    )
    opened = r"IMAP 127\.0\.0\.1/INBOX open"
    async with Workers(env, tmp_path / "workers", 2) as workers:
        with shown_on_failure(workers):
            dovecot.append(corpus.plain("Writer 0 <writer0@example.org>", "<lead-0@example.org>"))
            await eventually(lambda: _answered(smtp_server, "writer0@example.org"), within=20)
            # Killed once the receipt is recorded as sent: a kill between the SMTP
            # server's "250" and that record is the one window where a mail goes twice.
            await eventually(lambda: all_delivered(pg_url))
            readers = [w for w in workers if w.logged(opened)]
            assert len(readers) == 1, [w.name for w in readers]
            reader = readers[0]
            other = next(w for w in workers if w is not reader)

            reader.kill()
            killed = time.monotonic()
            await reader.wait()
            dovecot.append(corpus.plain("Writer 1 <writer1@example.org>", "<lead-1@example.org>"))
            await eventually(lambda: _logged(other, opened), within=WAIT_LIMIT)
            took_over = time.monotonic() - killed
            await eventually(lambda: _answered(smtp_server, "writer1@example.org"), within=30)
            answered = time.monotonic() - killed
    cases = await stored(pg_url, Case.contact_email)
    print(f"\nIMAP: read by the other after {took_over:.2f} s, answered after {answered:.2f} s")
    assert sorted(c for (c,) in cases) == ["writer0@example.org", "writer1@example.org"]
    receipts = [smtp_server.to(f"writer{n}@example.org") for n in (0, 1)]
    assert [len(r) for r in receipts] == [1, 1], [
        [str(m.message["Subject"]) for m in r] for r in receipts
    ]
    assert answered < WAIT_LIMIT, f"the next mail was answered {answered:.1f} s after the kill"


async def _answered(server: SmtpServer, address: str) -> bool:
    return bool(server.to(address))


async def _logged(worker: WorkerProcess, pattern: str) -> bool:
    return worker.logged(pattern)
