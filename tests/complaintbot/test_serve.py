"""`complaintbot serve` in the test's process, against the Bot API stand-in: health,
readiness and metrics over real HTTP, Telegram by polling and by webhook, the webhook's
secret, and SQLite's one worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from complaintbot.app import StartupError, run, serve
from complaintbot.settings import Settings
from storage.database import create_engine
from storage.models import Message, RawUpdate
from tests.support.serving import PUBLIC, ready, sample, serving, webhook_settings
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import stored_rows, telegram_settings
from tests.support.waiting import eventually


async def test_serve_polls_telegram_and_shows_health_readiness_and_metrics(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    settings = telegram_settings(api, database_url, tmp_path / "data", PORT=0, WORKER_ID="w1")
    async with serving(settings) as client:
        assert (await client.get("/healthz")).json() == {"status": "alive", "worker": "w1"}
        assert await ready(client) == {"status": "ready", "worker": "w1"}
        wang = api.user(7301, "Wang", "en")
        await wang.send_text("My broadband drops every night")
        await wang.expect("Add more if you like", since=0, within=30)

        # The reply reaches the stand-in a moment before its sender counts it as sent.
        async def counted() -> str | None:
            page = (await client.get("/metrics")).text
            sent = sample(page, "complaintbot_sends_total", channel="telegram", outcome="sent")
            return page if sent >= 1 else None

        page = await eventually(counted, within=10)
        assert sample(page, "complaintbot_inbound_total", channel="telegram", outcome="stored") == 1
        assert sample(page, "complaintbot_worker_info", worker="w1") == 1
        if database_url.startswith("postgresql"):
            # Its connections (and so its locks and claims) carry the worker's id.
            assert "w1" in await _connected_workers(database_url)
    # One message stored, once.
    stored = await stored_rows(database_url, Message, Message.direction == "in")
    assert [m.text for m in stored] == ["My broadband drops every night"]


async def test_a_webhook_update_is_stored_then_answered_and_one_without_the_secret_is_refused(
    api: FakeBotApi, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = webhook_settings(api, database_url, tmp_path)
    assert settings.TELEGRAM_WEBHOOK_URL and settings.TELEGRAM_WEBHOOK_SECRET
    path = settings.TELEGRAM_WEBHOOK_URL.removeprefix(PUBLIC)
    async with serving(settings) as client:
        api.route(PUBLIC, str(client.base_url).rstrip("/"))
        await ready(client)
        # serve registered the webhook with its secret: Telegram no longer takes polls.
        assert api.webhook is not None
        assert api.webhook.url == settings.TELEGRAM_WEBHOOK_URL
        assert api.webhook.secret_token == settings.TELEGRAM_WEBHOOK_SECRET

        li = api.user(7302, "Li", "en")
        update = await li.send_text("The bill is wrong")
        attempts = await api.wait_delivered(update, within=30)
        assert [a.status for a in attempts] == [200]
        await li.expect("Add more if you like", since=0, within=30)

        forged = {"update_id": 990001, "message": {"message_id": 1, "text": "x"}}
        wrong = await client.post(
            path,
            json=forged,
            # Through the proxy (127.0.0.1, trusted): the log names the client behind it.
            headers={
                "X-Telegram-Bot-Api-Secret-Token": "not-the-secret",
                "X-Forwarded-For": "203.0.113.7",
            },
        )
        missing = await client.post(path, json=forged)
        assert (wrong.status_code, missing.status_code) == (401, 401)
        garbage = await client.post(
            path,
            content=b"{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": settings.TELEGRAM_WEBHOOK_SECRET},
        )
        assert garbage.status_code == 400

        page = (await client.get("/metrics")).text
        assert (
            sample(page, "complaintbot_inbound_total", channel="telegram", outcome="refused") == 3
        )
    keys = [row.update_key for row in await stored_rows(database_url, RawUpdate)]
    assert keys == [str(update["update_id"])]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals[0] == "webhook request from 203.0.113.7 refused (401)"


async def test_metrics_ask_for_the_token_when_one_is_set(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    settings = telegram_settings(
        api, database_url, tmp_path / "data", PORT=0, METRICS_TOKEN="s3cret-token-for-scrapes"
    )
    async with serving(settings) as client:
        refused = await client.get("/metrics")
        allowed = await client.get(
            "/metrics", headers={"Authorization": "Bearer s3cret-token-for-scrapes"}
        )
    assert refused.status_code == 401 and "complaintbot_" not in refused.text
    assert allowed.status_code == 200 and "complaintbot_open_cases" in allowed.text


async def test_a_second_worker_on_one_sqlite_file_is_refused_in_one_sentence(
    api: FakeBotApi, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    first = telegram_settings(api, url, tmp_path / "data", PORT=0)
    async with serving(first) as client:
        await ready(client)
        with pytest.raises(StartupError, match="SQLite takes one worker"):
            await serve(telegram_settings(api, url, tmp_path / "data", PORT=0))


async def test_a_port_in_use_is_named_in_one_sentence(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    async with serving(telegram_settings(api, database_url, tmp_path / "a", PORT=0)) as client:
        taken = client.base_url.port
        assert taken is not None
        other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
        settings = Settings(DATABASE_URL=other, DATA_DIR=tmp_path / "b", PORT=taken)
        with pytest.raises(StartupError, match=f"Cannot listen on HOST 127.0.0.1 PORT {taken}"):
            await serve(settings)


async def _connected_workers(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT application_name FROM pg_stat_activity"))
            return {name for (name,) in rows.all()}
    finally:
        await engine.dispose()


async def test_run_refuses_a_webhook_it_would_not_serve(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    settings = webhook_settings(api, database_url, tmp_path)
    with pytest.raises(StartupError, match="TELEGRAM_WEBHOOK_URL is set"):
        await run(settings)
    assert api.calls_of("deleteWebhook") == [] and api.calls_of("setWebhook") == []
