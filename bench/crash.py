"""Intakes in flight while the bot is killed: `complaintbot run` as a process of its own
(SQLite in a temporary directory, the Bot API stand-in enforcing Telegram's limits, an
agents' forum group) is killed with SIGKILL and started again, twice, while people file.

    python -m bench.crash [PEOPLE] [KILLS]

Defaults: 50 people filing one intake each (the 10 turns of `bench.turns`, 1 s
thinking between turns, starting spread over the first second), 2 kills, at a third
and two thirds of all turns answered; each restart is started as soon as the killed
process is gone. Prints whether every intake completed (each person got a receipt and
the database holds one case per person), per restart the start-up time (until its
first getUpdates) and the longest wait for a reply (from the restart, or from the
message when it was sent later, to the first answer, for every turn answered after the
kill; goal at most 10 s), the receipts anyone got twice (goal 0), other messages anyone
got twice and the stand-in's 429 answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.turns import (
    DESK_ID,
    INTAKE,
    RECEIPT,
    THINK,
    NoAnswer,
    Person,
    Turn,
    enforce_telegram_limits,
    stagger,
)
from complaintbot.settings import Settings
from storage.models import Case
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import stored_rows
from tests.support.workers import ending_with_this_process

REPOSITORY = Path(__file__).resolve().parents[1]
WAIT_GOAL = 10.0
WITHIN = 150.0  # a person gives up on an answer after this long: the intake did not complete


@dataclass
class Restart:
    killed: float  # when the old process was gone
    started: float  # when the new one was started
    ready: float  # its first getUpdates

    def longest_wait(self, turns: Sequence[Turn], until: float) -> float:
        """The longest wait for a first answer among the turns answered after the kill
        and sent before `until` (the next kill), counted from this start at the earliest."""
        waits = [
            t.first - max(t.sent, self.started)
            for t in turns
            if t.first > self.killed and t.sent < until
        ]
        return max(waits, default=0.0)

    def caught(self, turns: Sequence[Turn]) -> int:
        """The turns sent before this process polled and answered only after the kill."""
        return sum(1 for t in turns if t.sent < self.ready and t.first > self.killed)


class BotProcess:
    """`complaintbot run` in a process of its own, its output in a file."""

    def __init__(self, api: FakeBotApi, directory: Path) -> None:
        self.api = api
        self.directory = directory
        self.log = directory / "complaintbot.log"
        # Only the bench's settings: none of the caller's environment's (a mailbox, a
        # real token, ...), and the bench's own code on the path.
        self.env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
        self.env.update(
            PYTHONPATH=str(REPOSITORY),
            DATABASE_URL=self.database_url,
            DATA_DIR=str(directory / "data"),
            TELEGRAM_BOT_TOKEN=api.token,
            TELEGRAM_BASE_URL=api.base_url,
            TELEGRAM_BASE_FILE_URL=api.base_file_url,
            TELEGRAM_AGENT_CHAT_ID=str(DESK_ID),
        )
        self.process: asyncio.subprocess.Process | None = None

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.directory / 'complaintbot.db'}"

    async def start(self) -> float:
        """Starts it and waits for its first poll; returns when that poll came."""
        polls = len(self.api.calls_of("getUpdates"))
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *ending_with_this_process("-m", "complaintbot", "run"),
                cwd=self.directory,  # no .env of the caller's
                env=self.env,
                stdout=log,
                stderr=log,
            )
        process = self.process
        try:
            await self.api.wait_until(
                lambda: (
                    len(self.api.calls_of("getUpdates")) > polls or process.returncode is not None
                ),
                within=60,
            )
        except TimeoutError:
            raise SystemExit(f"complaintbot did not start: {self.tail()}") from None
        if process.returncode is not None:
            raise SystemExit(f"complaintbot stopped at start: {self.tail()}")
        return time.perf_counter()

    async def kill(self) -> float:
        """SIGKILL: no clean shutdown; returns when the process is gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        return time.perf_counter()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def main(people: int, kills: int) -> None:
    # A request cut off by the kill is expected here, not an error of the stand-in's.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    print(
        f"{people} people filing at once against complaintbot run (a process), "
        f"killed with SIGKILL {kills} times and restarted"
    )
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        async with FakeBotApi() as api:
            enforce_telegram_limits(api)
            api.group(DESK_ID, "Agents", forum=True)
            bot = BotProcess(api, directory)
            try:
                await bot.start()
                persons = [Person(api.user(40_000 + n, f"Person {n}", "en")) for n in range(people)]
                for person in persons:
                    person.within = WITHIN
                filing = [
                    asyncio.create_task(_file(person, stagger(n, people, THINK)))
                    for n, person in enumerate(persons)
                ]
                restarts, kill_times = await _kill_and_restart(bot, persons, filing, kills)
                completed = sum(await asyncio.gather(*filing))
            finally:
                await bot.kill()
                await api.end_polls()
            cases = await stored_rows(bot.database_url, Case)
        _report(persons, completed, len(cases), restarts, kill_times, api.too_many)


async def _file(person: Person, delay: float) -> bool:
    try:
        await person.file(1, THINK, delay)
    except NoAnswer as error:
        print(f"incomplete: {error}")
        return False
    return True


async def _kill_and_restart(
    bot: BotProcess, persons: Sequence[Person], filing: Sequence[asyncio.Task[bool]], kills: int
) -> tuple[list[Restart], list[float]]:
    total = len(persons) * len(INTAKE)
    restarts: list[Restart] = []
    kill_times: list[float] = []
    for kill in range(kills):
        answered = total * (kill + 1) // (kills + 1)
        while sum(len(p.turns) for p in persons) < answered:
            if all(task.done() for task in filing):
                return restarts, kill_times  # people gave up: nothing left to kill for
            await asyncio.sleep(0.01)  # the bench's own look at its people's progress
        killed = await bot.kill()
        kill_times.append(killed)
        started = time.perf_counter()
        ready = await bot.start()
        restarts.append(Restart(killed, started, ready))
    return restarts, kill_times


def _report(
    persons: Sequence[Person],
    completed: int,
    cases: int,
    restarts: Sequence[Restart],
    kill_times: Sequence[float],
    too_many: int,
) -> None:
    people = len(persons)
    turns = [turn for person in persons for turn in person.turns]
    receipts = [sum(RECEIPT in text for text in p.user.texts()) for p in persons]
    twice = sum(max(0, n - 1) for n in receipts)
    repeated = sum(len(p.user.texts()) - len(set(p.user.texts())) for p in persons) - twice
    every = completed == people and cases == people and all(receipts)
    print(
        f"every intake completed: {'yes' if every else 'NO'} ({completed} of {people} "
        f"people got through, {sum(map(bool, receipts))} got a receipt, {cases} cases stored)"
    )
    ends = [*kill_times[1:], float("inf")]
    for number, (restart, until) in enumerate(zip(restarts, ends, strict=True), start=1):
        wait = restart.longest_wait(turns, until)
        met = "met" if wait <= WAIT_GOAL else "MISSED"
        print(
            f"restart {number}: started in {restart.ready - restart.started:.1f} s, "
            f"{restart.caught(turns)} turns waiting across it, longest wait for a reply "
            f"{wait:.1f} s (goal <= {WAIT_GOAL:.0f} s: {met})"
        )
    print(
        f"receipts got twice: {twice} (goal 0: {'met' if twice == 0 else 'MISSED'}); "
        f"other messages got twice: {repeated}; {too_many} x 429"
    )


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*arguments, *(50, 2)[len(arguments) :]))
