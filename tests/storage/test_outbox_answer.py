"""Whether a queued message answers the complainant is the bot's word, stored with it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.ports import CaseThread
from storage import migrate
from tests.conftest import SQL_BACKENDS
from tests.support.migrations import database_at


def test_a_reply_threads_under_the_complainants_latest_message() -> None:
    thread = CaseThread(
        "Double charge",
        (("<first@x>", "in"), ("<receipt@us>", "out"), ("<again@x>", "in"), ("<note@us>", "out")),
    )
    assert thread.references == ("<first@x>", "<receipt@us>", "<note@us>", "<again@x>")
    # An edit on some channels repeats an id: each id once, where it first was.
    repeated = CaseThread("", (("<a@us>", "out"), ("<b@x>", "in"), ("<a@us>", "out")))
    assert repeated.references == ("<a@us>", "<b@x>")
    assert CaseThread("", ()).references == ()


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_messages_queued_before_the_answer_column_keep_their_meaning(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with database_at("0006", backend, request, tmp_path) as engine:
        async with engine.begin() as connection:
            for kind in ("receipt", "agent_reply", "status_notice", "resolution"):
                await connection.execute(
                    text(
                        "INSERT INTO outbox (channel, conversation, kind, payload, status,"
                        " attempts, next_attempt_at, created_at) VALUES ('test', '1', :kind,"
                        " '{}', 'pending', 0, :at, :at)"
                    ),
                    {"kind": kind, "at": datetime(2026, 11, 22, 2, tzinfo=UTC)},
                )
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            query = text("SELECT kind, answer FROM outbox ORDER BY id")
            rows = (await connection.execute(query)).all()
    assert [(kind, bool(answer)) for kind, answer in rows] == [
        ("receipt", False),
        ("agent_reply", True),
        ("status_notice", False),
        ("resolution", True),
    ]
