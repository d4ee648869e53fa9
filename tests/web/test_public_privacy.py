"""The privacy notice at /privacy: the built-in text with its version, or the company's
own page; the chat page shows the same version it asks agreement to."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from complaintbot.settings import Settings
from tests.support.clock import RunningWallClock
from tests.support.serving import ready, serving


def _settings(database_url: str, tmp_path: Path, **more: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        DATA_DIR=tmp_path / "data",
        PORT=0,
        **more,  # type: ignore[arg-type]
    )


async def test_the_built_in_notice_and_its_version_are_shown(
    database_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path, RETENTION_DAYS=365)
    async with serving(settings, RunningWallClock(datetime.now(UTC))) as client:
        await ready(client)
        page = await client.get("/privacy", headers={"accept-language": "zh-CN"})
        assert page.status_code == 200
        assert "保存 365 天" in page.text
        assert "删除" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        version = re.search(r"版本 ([0-9a-f]{12})", page.text)
        assert version
        chat = await client.get("/chat/")
        config = re.search(
            r'<script type="application/json" id="chat-config">(.*?)</script>', chat.text
        )
        assert config and json.loads(config.group(1))["version"] == version.group(1)


async def test_the_companys_own_notice_is_where_it_points(
    database_url: str, tmp_path: Path
) -> None:
    settings = _settings(
        database_url,
        tmp_path,
        PRIVACY_NOTICE_URL="https://www.example.com/privacy",
        PRIVACY_NOTICE_VERSION="2026-11",
    )
    async with serving(settings, RunningWallClock(datetime.now(UTC))) as client:
        await ready(client)
        page = await client.get("/privacy")
        assert page.status_code == 302
        assert page.headers["location"] == "https://www.example.com/privacy"
        chat = await client.get("/chat/")
        assert "https://www.example.com/privacy" in chat.text
        assert '"version": "2026-11"' in chat.text
