"""PostgreSQL stopped while web chat visitors write: each message is refused with 503
and one sentence (the page keeps it and sends it again), nothing is acknowledged that
is not stored, and once the database is back every message is stored once and answered
once; the visitors' event streams carry on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from complaintbot.settings import Settings
from storage.models import Message
from tests.support.clock import RunningWallClock
from tests.support.postgres import PostgresCluster
from tests.support.serving import ready, serving
from tests.support.telegram_run import stored_rows
from tests.support.waiting import eventually
from tests.support.web_chat import WebVisitor

VISITORS = 3


async def test_messages_during_an_outage_get_503_then_are_taken_once(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = cluster.url("outage")
    settings = Settings(_env_file=None, DATABASE_URL=url, DATA_DIR=tmp_path / "data", PORT=0)  # type: ignore[call-arg]
    async with serving(settings, RunningWallClock(datetime.now(UTC))) as client:
        await ready(client)
        visitors = [WebVisitor(client, lang="en") for _ in range(VISITORS)]
        for visitor in visitors:
            client.cookies.clear()
            await visitor.begin()
            await visitor.listen()
        await asyncio.to_thread(cluster.pause)
        refused = [await v.post(id="hello", kind="text", text="/start") for v in visitors]
        assert [r.status_code for r in refused] == [503] * VISITORS
        assert refused[0].json()["error"].startswith("We cannot take messages right now")

        await asyncio.to_thread(cluster.resume)
        await ready(client)

        async def sent_again() -> list[httpx.Response] | None:
            answers = [await v.post(id="hello", kind="text", text="/start") for v in visitors]
            return answers if all(a.status_code == 200 for a in answers) else None

        await eventually(sent_again, within=30)
        for visitor in visitors:
            await visitor.expect("describe", within=30)
        stored = await stored_rows(
            url, Message, Message.channel == "web", Message.direction == "in"
        )
        for visitor in visitors:
            await visitor.stop_listening()
    assert len(stored) == VISITORS  # once each, retried or not
    assert all(sum("describe" in t for t in v.texts()) == 1 for v in visitors)
