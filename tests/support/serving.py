"""`complaintbot serve` in the test's own process: started, asked over real HTTP, and
stopped; the stand-in's settings for a webhook."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.ports import Clock
from complaintbot.app import serve
from complaintbot.settings import Settings
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import telegram_settings
from tests.support.waiting import eventually

PUBLIC = "https://bot.example.com"


@asynccontextmanager
async def serving(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """`serve` runs until the block ends (on `clock`, the system's by default); yields a
    client for its HTTP server."""
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, stop, clock=clock, listening=port.set_result))
    either: set[asyncio.Future[Any]] = {task, port}
    done, _ = await asyncio.wait(either, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port.result()}") as client:
        try:
            yield client
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def ready(client: httpx.AsyncClient) -> dict[str, Any]:
    """/readyz once it says ready (the channels start after the server listens)."""

    async def answer() -> dict[str, Any] | None:
        response = await client.get("/readyz")
        return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

    return await eventually(answer, within=30)


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    raise AssertionError(f"no sample {name} {labels}")


def webhook_settings(api: FakeBotApi, database_url: str, tmp_path: Path, **more: Any) -> Settings:
    return telegram_settings(
        api,
        database_url,
        tmp_path / "data",
        PORT=0,
        WORKER_ID="worker-a",
        TELEGRAM_WEBHOOK_URL=f"{PUBLIC}/telegram/{secrets.token_urlsafe(16)}",
        TELEGRAM_WEBHOOK_SECRET=secrets.token_urlsafe(32),
        **more,
    )
