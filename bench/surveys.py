"""Satisfaction surveys sent through the real Telegram channel and dispatcher to a Bot
API stand-in on 127.0.0.1 that enforces Telegram's limits (30 messages a second
overall, one a second per chat) and answers 429 beyond them.

    python -m bench.surveys [COUNT]

Prints the rate achieved against the 30 msg/s limit and the number of 429 answers.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.messages import Button, Outbound
from channels.telegram import CHANNEL
from channels.telegram.application import TelegramChannel, build_application
from channels.telegram.pacing import telegram_pacing
from delivery.dispatcher import Dispatcher
from storage.database import create_engine
from storage.migrate import upgrade
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.support.telegram_api import FakeBotApi

LIMIT = 30
BUTTONS = tuple((Button(f"{n}", f"rate:TS-20261123-0001:{n}"),) for n in range(1, 6))


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(f"sqlite+aiosqlite:///{directory}/bench.db")
        await upgrade(engine)
        repository = SqlRepository(engine, Path(directory))
        async with FakeBotApi() as api:
            # Real time: forgive the few milliseconds a request spends on its way.
            api.enforce_limits(overall=(LIMIT, 1.0), tolerance=0.05)
            users = [api.user(10_000 + n, f"User {n}") for n in range(count)]
            async with repository.conversation(CHANNEL, "bench", "bench") as tx:
                for user in users:
                    text = "How satisfied are you with how we handled your complaint?"
                    outbound = Outbound(CHANNEL, str(user.id), text, buttons=BUTTONS)
                    await tx.enqueue(outbound, "survey", _now())
            application = build_application(api.token, api.base_url, api.base_file_url)

            async def ignore(_inbound: object) -> None:
                return None

            channel = TelegramChannel(application, ignore)
            await application.initialize()
            dispatcher = Dispatcher(
                SqlOutbox(engine, Path(directory)),
                {CHANNEL: channel},
                pacing={CHANNEL: telegram_pacing(LIMIT)},
            )
            started = time.perf_counter()
            while sum(len(u.messages) for u in users) < count:
                if not await dispatcher.run_once():
                    await asyncio.sleep(0.05)  # retries wait for their time
            elapsed = time.perf_counter() - started
            await application.shutdown()
        await engine.dispose()
    rate = count / elapsed
    print(
        f"{count} surveys in {elapsed:.1f}s: {rate:.1f} msg/s "
        f"({rate / LIMIT:.1%} of the {LIMIT} msg/s limit), {api.too_many} answers 429"
    )


def _now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
