"""PostgreSQL stopped while Telegram posts updates to `complaintbot serve`'s webhook: each
POST gets 503 (Telegram keeps the update and tries again), /readyz says why, and once
the database is back every update is accepted, stored once and answered once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from storage.models import Message, RawUpdate
from tests.support.postgres import PostgresCluster
from tests.support.serving import PUBLIC, ready, serving, webhook_settings
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import stored_rows
from tests.support.waiting import eventually

WRITERS = 5


async def test_webhook_posts_during_an_outage_get_503_then_are_accepted_once(
    api: FakeBotApi, cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = cluster.url("outage")
    settings = webhook_settings(api, url, tmp_path)
    async with serving(settings) as client:
        api.route(PUBLIC, str(client.base_url).rstrip("/"))
        await ready(client)
        await asyncio.to_thread(cluster.pause)
        reasons = await eventually(lambda: _not_ready(client), within=15)
        assert any(reason.startswith("database unreachable") for reason in reasons)

        people = [api.user(8100 + n, f"Writer {n}", "en") for n in range(WRITERS)]
        sent = [await p.send_text(f"Complaint number {n}") for n, p in enumerate(people)]
        # Each is refused while the database is away: Telegram keeps it and tries again.
        for update in sent:
            await api.wait_attempts(update, 2, within=15)
        assert all(a.status == 503 for u in sent for a in api.attempts_of(u))
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready

        await asyncio.to_thread(cluster.resume)
        await ready(client)
        for update in sent:
            attempts = await api.wait_delivered(update, within=30)
            assert [a.status for a in attempts][-1] == 200
        for person in people:
            await person.expect("Add more if you like", since=0, within=30)
        raw = await stored_rows(url, RawUpdate)
        stored = await stored_rows(url, Message, Message.direction == "in")

    ids = sorted(str(update["update_id"]) for update in sent)
    answered = [p for p in people if sum("Add more if you like" in t for t in p.texts()) == 1]
    # The figures: sent 5, stored 5 (once each), answered 5.
    assert sorted(row.update_key for row in raw) == ids
    assert sorted(m.transport_id for m in stored) == ids
    assert len(answered) == WRITERS


async def _not_ready(client: httpx.AsyncClient) -> list[str] | None:
    answer = await client.get("/readyz")
    if answer.status_code != 503:
        return None
    reasons: list[str] = answer.json()["reasons"]
    return reasons
