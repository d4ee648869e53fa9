"""Turns per second and reply latency of whole intakes through `complaintbot run`
against the Bot API stand-in enforcing Telegram's limits (30 messages a second per bot,
one a second per private chat with bursts of 3, 20 a minute per group), next to an echo
bot in the same run: a bare python-telegram-bot Application with `AIORateLimiter`
answering each message with one message.

    python -m bench.turns [--users N] [--intakes K] [--think SECONDS] [--echo-limiter KIND]
    python -m bench.turns --flood [--flood-messages 300] [--users 5] [--intakes 2]

A turn is one message of a person in an intake and the bot's answer to it: each person
sends `/new`, describes the problem, presses Continue, gives a name and an address,
picks a category, names the company, skips the evidence, states the outcome wanted and
presses Confirm (10 turns an intake), waiting for the answer to each before thinking
THINK seconds (1 s: within the one-message-a-second of a private chat) and sending the
next; the people start one after the other, spread evenly over the first THINK
seconds. The echo bot's people send as many messages, with the same thinking time; its
limiter lets one message go every 1/30 s (`--echo-limiter default`: the library's
defaults, whose bursts after a quiet moment the stand-in answers with 429). The
bot runs as `complaintbot run` does (`complaintbot.app.run`, in this process, on a
SQLite file in a temporary directory, Telegram's limits as configured by default, an
agents' forum group that gets a topic and a card per case); so does the echo bot, each
against a stand-in of its own.

Printed for each: turns per second (turns answered / time from the first message to the
last turn's answer), p50 and p99 of the reply latency (from a person's message to the
first message the bot sends into that chat after it), and the stand-in's 429 answers;
then the ratios bot / echo bot next to the goals (200 people: at least 1.0x the echo
bot's turns per second and p99 at most 1.5x; 10 people: p99 at most 3x; no 429).

`--flood`: one person sends FLOOD_MESSAGES messages as fast as the stand-in takes them
while USERS others (5 by default) each file INTAKES intakes (2): prints the others'
reply p50 and p99 (goal: p99 at most 5 s) and what the flood got.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters

from complaintbot.settings import Settings
from storage import migrate
from storage.database import create_engine
from tests.support.telegram_api import UNPACED, FakeBotApi, FakeUser
from tests.support.telegram_run import running_telegram, telegram_settings

DESK_ID = -1001000000001
THINK = 1.0
WITHIN = 120.0  # the longest a person waits for an answer before the bench gives up
FLOOD_MESSAGES = 300
# (action, what is sent or pressed, a fragment of the answer that lets the person go on)
INTAKE: tuple[tuple[str, str, str], ...] = (
    ("text", "/new", "in your own words"),
    ("text", "I was charged 30 yuan for a service I never ordered", "Add more"),
    ("press", "Continue", "What is your name"),
    ("text", "{name}", "How can we reach you"),
    ("text", "{email}", "What kind"),
    ("press", "Consultation", "Which company"),
    ("text", "Example Telecom", "evidence"),
    ("press", "Skip", "What outcome"),
    ("text", "A refund", "Please check"),
    ("press", "Confirm", "Your complaint has been accepted"),
)
RECEIPT = INTAKE[-1][2]
TOO_FAST = "faster than we can read them"  # the inbound limit's notice
# Goals per number of people (issue #15): least turns/s ratio, most p99 ratio.
GOALS: dict[int, tuple[float | None, float]] = {200: (1.0, 1.5), 10: (None, 3.0)}
FLOOD_P99_GOAL = 5.0


class Arrivals(list[dict[str, Any]]):
    """What the bot sent into one chat (the stand-in appends each message it accepts),
    with the moment each arrived; replaces a `FakeUser`'s `messages`."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self.changed = asyncio.Event()

    def append(self, message: dict[str, Any]) -> None:
        self.times.append(time.perf_counter())
        super().append(message)
        self.changed.set()

    async def wait_for(self, condition: Callable[[], bool], within: float) -> None:
        async with asyncio.timeout(within):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


class NoAnswer(Exception):
    """A person waited `Person.within` seconds for an answer in vain."""


@dataclass
class Turn:
    step: str  # what the person sent or pressed
    sent: float
    first: float  # the first message the bot sent into the chat after it
    done: float  # the answer that lets the person go on


@dataclass
class Person:
    """A simulated person whose every turn is timed."""

    user: FakeUser
    arrivals: Arrivals = field(default_factory=Arrivals)
    turns: list[Turn] = field(default_factory=list)
    within: float = WITHIN

    def __post_init__(self) -> None:
        self.user.messages = self.arrivals

    async def turn(self, action: str, value: str, expect: str | None, step: str = "") -> None:
        """Sends (or presses) and waits for the answer holding `expect` (any message
        when None)."""
        mark = len(self.arrivals)
        sent = time.perf_counter()
        if action == "press":
            await self.user.press(value)
        else:
            await self.user.send_text(value)
        try:
            await self.arrivals.wait_for(lambda: len(self.arrivals) > mark, self.within)
            await self.arrivals.wait_for(lambda: self._answer(mark, expect) >= 0, self.within)
        except TimeoutError:
            got = self.user.texts(mark)
            raise NoAnswer(f"{self.user.first_name} got no answer to {value!r}: {got}") from None
        done = self.arrivals.times[self._answer(mark, expect)]
        self.turns.append(Turn(step, sent, self.arrivals.times[mark], done))

    def _answer(self, mark: int, expect: str | None) -> int:
        for index in range(mark, len(self.arrivals)):
            message = self.arrivals[index]
            if expect is None or expect in (message.get("text") or message.get("caption") or ""):
                return index
        return -1

    async def file(self, intakes: int, think: float, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        for _ in range(intakes):
            for action, value, expect in INTAKE:
                text = value.format(name=self.user.first_name, email=f"p{self.user.id}@example.com")
                await self.turn(action, text, expect, value)
                await asyncio.sleep(think)  # the person reads and types

    async def echo(self, intakes: int, think: float, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        for n in range(intakes * len(INTAKE)):
            await self.turn("text", f"Message {n}", None, "echo")
            await asyncio.sleep(think)


@dataclass
class Figures:
    label: str
    turns: list[Turn]
    elapsed: float
    too_many: int
    sent: int = 0  # messages the stand-in accepted until the last turn's answer
    to_desk: int = 0  # of them, into the agents' group

    @property
    def rate(self) -> float:
        return len(self.turns) / self.elapsed

    def latency(self, share: float, step: str | None = None) -> float:
        """The reply latency that `share` of the turns (of `step`) keep to, nearest rank."""
        return percentile(
            [t.first - t.sent for t in self.turns if step is None or t.step == step], share
        )

    def show(self) -> None:
        steps = {t.step for t in self.turns}
        slowest = max(steps, key=lambda step: self.latency(0.99, step))
        print(
            f"{self.label:<12} {len(self.turns)} turns in {self.elapsed:.1f} s: "
            f"{self.rate:.2f} turns/s, reply latency p50 {self.latency(0.5) * 1000:.0f} ms, "
            f"p99 {self.latency(0.99) * 1000:.0f} ms, {self.too_many} x 429; slowest turn "
            f"{slowest!r} (p99 {self.latency(0.99, slowest) * 1000:.0f} ms); "
            f"{self.sent} messages sent ({self.sent / self.elapsed:.1f}/s), "
            f"{self.to_desk} of them to the agents' group"
        )


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def enforce_telegram_limits(api: FakeBotApi) -> None:
    """Telegram's limits on the stand-in (a private chat's burst of 3 included),
    forgiving a request's few milliseconds on the way, as the real-time tests do: the
    senders pace by real time."""
    api.enforce_limits(tolerance=0.02, private_burst=3)


def paced_settings(api: FakeBotApi, directory: Path, **more: Any) -> Settings:
    """Settings for the stand-in with Telegram's limits as `complaintbot run` keeps them
    by default (the tests' helper lifts them)."""
    defaults = {name: Settings.model_fields[name].default for name in UNPACED}
    url = f"sqlite+aiosqlite:///{directory / 'complaintbot.db'}"
    return telegram_settings(api, url, directory / "data", **{**defaults, **more})


@asynccontextmanager
async def complaintbot(directory: Path, **more: Any) -> AsyncIterator[FakeBotApi]:
    """`complaintbot run` against a stand-in of its own, with an agents' forum group."""
    async with FakeBotApi() as api:
        enforce_telegram_limits(api)
        api.group(DESK_ID, "Agents", forum=True)
        settings = paced_settings(api, directory, TELEGRAM_AGENT_CHAT_ID=DESK_ID, **more)
        engine = create_engine(settings.DATABASE_URL)
        await migrate.upgrade(engine)
        await engine.dispose()
        async with running_telegram(api, settings):
            yield api


def echo_limiter(kind: str) -> AIORateLimiter:
    """The echo bot's limiter. "default": the library's settings, 30 a second as a leaky
    bucket that lets 30 go at once after a quiet moment, so up to about 60 fall into one
    second and the stand-in answers 429 (the limiter then holds every send for
    `retry_after`). "steady" (the default here): one send every 1/30 s, never more than
    30 in any second, as the stand-in counts. Both try a send again after a 429."""
    if kind == "default":
        return AIORateLimiter(max_retries=5)
    return AIORateLimiter(overall_max_rate=1, overall_time_period=1 / 30, max_retries=5)


@asynccontextmanager
async def echo_bot(limiter: str = "steady") -> AsyncIterator[FakeBotApi]:
    """The baseline: python-telegram-bot's own way to a bot that keeps Telegram's
    limits (`AIORateLimiter`), answering each message with one message, updates handled
    concurrently."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None and update.effective_message is not None
        await context.bot.send_message(
            update.effective_chat.id, f"Echo: {update.effective_message.text}"
        )

    async with FakeBotApi() as api:
        enforce_telegram_limits(api)
        application = (
            ApplicationBuilder()
            .token(api.token)
            .base_url(api.base_url)
            .base_file_url(api.base_file_url)
            .rate_limiter(echo_limiter(limiter))
            .concurrent_updates(True)
            .build()
        )
        application.add_handler(MessageHandler(filters.TEXT, echo))
        await application.initialize()
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=10)
        try:
            yield api
        finally:
            await api.end_polls()
            await application.updater.stop()
            await application.stop()
            await application.shutdown()


async def measure_bot(users: int, intakes: int, think: float) -> Figures:
    with tempfile.TemporaryDirectory() as directory:
        async with complaintbot(Path(directory)) as api:
            people = [Person(api.user(30_000 + n, f"Person {n}", "en")) for n in range(users)]
            started = time.perf_counter()
            await asyncio.gather(
                *(p.file(intakes, think, stagger(n, users, think)) for n, p in enumerate(people))
            )
            elapsed = _last(people) - started
            sent, to_desk = _sent(api, people)
        _check_receipts(people, intakes)
        return Figures("complaintbot", _turns(people), elapsed, api.too_many, sent, to_desk)


async def measure_echo(users: int, intakes: int, think: float, limiter: str) -> Figures:
    async with echo_bot(limiter) as api:
        people = [Person(api.user(30_000 + n, f"Person {n}", "en")) for n in range(users)]
        started = time.perf_counter()
        await asyncio.gather(
            *(p.echo(intakes, think, stagger(n, users, think)) for n, p in enumerate(people))
        )
        elapsed = _last(people) - started
    return Figures("echo bot", _turns(people), elapsed, api.too_many, *_sent(api, people))


def stagger(number: int, people: int, think: float) -> float:
    """When person `number` starts: spread evenly over one thinking time, so people who
    think equally long do not write in lockstep."""
    return number * think / people


def _turns(people: Sequence[Person]) -> list[Turn]:
    return [turn for person in people for turn in person.turns]


def _sent(api: FakeBotApi, people: Sequence[Person]) -> tuple[int, int]:
    """The messages sent into the people's chats and the agents' group until the last
    turn was answered (the group's backlog goes on after it), and those of the group."""
    last = _last(people)
    private = sum(sum(1 for t in p.arrivals.times if t <= last) for p in people)
    desk = api.groups.get(DESK_ID)
    # Group messages are not timed here: counted when the last answer has come.
    to_desk = len(desk.messages) if desk is not None else 0
    return private + to_desk, to_desk


def _last(people: Sequence[Person]) -> float:
    return max(turn.done for turn in _turns(people))


def _check_receipts(people: Sequence[Person], intakes: int) -> None:
    for person in people:
        receipts = sum(RECEIPT in text for text in person.user.texts())
        if receipts != intakes:
            raise SystemExit(f"{person.user.first_name} got {receipts} receipts, not {intakes}")
        if any(TOO_FAST in text for text in person.user.texts()):
            raise SystemExit(f"{person.user.first_name} was told to slow down")


def _goal(name: str, value: float, limit: float, at_least: bool) -> str:
    met = value >= limit if at_least else value <= limit
    sign = ">=" if at_least else "<="
    return f"{name} {value:.2f}x (goal {sign} {limit:.1f}x: {'met' if met else 'MISSED'})"


async def compare(users: int, intakes: int, think: float, limiter: str) -> None:
    print(
        f"{users} people, {intakes} intake(s) each of {len(INTAKE)} turns, "
        f"{think:.1f} s thinking between turns; the echo bot's AIORateLimiter: {limiter}"
    )
    echo = await measure_echo(users, intakes, think, limiter)
    echo.show()
    bot = await measure_bot(users, intakes, think)
    bot.show()
    rate = bot.rate / echo.rate
    p99 = bot.latency(0.99) / echo.latency(0.99)
    least_rate, most_p99 = GOALS.get(users, (None, math.inf))
    lines = [
        _goal("turns/s ratio", rate, least_rate, True)
        if least_rate is not None
        else f"turns/s ratio {rate:.2f}x",
        _goal("p99 ratio", p99, most_p99, False) if users in GOALS else f"p99 ratio {p99:.2f}x",
        f"p50 ratio {bot.latency(0.5) / echo.latency(0.5):.2f}x",
        f"429: complaintbot {bot.too_many}, echo bot {echo.too_many} "
        f"(goal 0: {'met' if bot.too_many == 0 else 'MISSED'})",
    ]
    print("bot / echo bot: " + "; ".join(lines))


async def flood(users: int, intakes: int, think: float, messages: int) -> None:
    print(
        f"flood: one person sends {messages} messages at once while {users} others "
        f"file {intakes} intake(s) each, {think:.1f} s thinking between turns"
    )
    with tempfile.TemporaryDirectory() as directory:
        async with complaintbot(Path(directory)) as api:
            flooder = Person(api.user(29_999, "Flood", "en"))
            people = [Person(api.user(30_000 + n, f"Person {n}", "en")) for n in range(users)]
            started = time.perf_counter()

            async def send_flood() -> None:
                for n in range(messages):
                    await flooder.user.send_text(f"Flood message {n}")

            await asyncio.gather(
                send_flood(),
                *(p.file(intakes, think, stagger(n, users, think)) for n, p in enumerate(people)),
            )
            elapsed = _last(people) - started
            answered = len(flooder.arrivals)
            sent, to_desk = _sent(api, [flooder, *people])
        _check_receipts(people, intakes)
    others = Figures("others", _turns(people), elapsed, api.too_many, sent, to_desk)
    others.show()
    p99 = others.latency(0.99)
    met = "met" if p99 <= FLOOD_P99_GOAL else "MISSED"
    print(
        f"others' p99 {p99:.2f} s (goal <= {FLOOD_P99_GOAL:.0f} s: {met}); the flooder got "
        f"{answered} messages while the others filed"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.turns", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--users", type=int, help="people at once (10; 5 with --flood)")
    parser.add_argument(
        "--intakes",
        type=int,
        help="intakes per person (4 for 10 people, 1 for 40 or more; 2 with --flood)",
    )
    parser.add_argument(
        "--think", type=float, default=THINK, help="seconds between an answer and the next message"
    )
    parser.add_argument(
        "--echo-limiter",
        choices=("steady", "default"),
        default="steady",
        help="the echo bot's AIORateLimiter: one send every 1/30 s, or the library's defaults",
    )
    parser.add_argument("--flood", action="store_true", help="one person floods while others file")
    parser.add_argument("--flood-messages", type=int, default=FLOOD_MESSAGES)
    options = parser.parse_args(argv)
    try:
        if options.flood:
            users = options.users or 5
            intakes = options.intakes or 2
            asyncio.run(flood(users, intakes, options.think, options.flood_messages))
        else:
            users = options.users or 10
            intakes = options.intakes or max(1, 40 // users)
            asyncio.run(compare(users, intakes, options.think, options.echo_limiter))
    except NoAnswer as error:
        raise SystemExit(f"bench stopped: {error}") from None


if __name__ == "__main__":
    main()
