"""Migration 0012: cases archived before it take `archived_at` from their timeline's
`archived` event (retention counts from there); other cases have none."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from tests.conftest import SQL_BACKENDS
from tests.support.migrations import database_at

ARCHIVED = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
CASE = (
    "INSERT INTO cases (id, case_no, status, channel, conversation, complainant_id, locale,"
    " contact_name, category, subject, description, expectation, received_at, created_at,"
    " updated_at, reopened_count) VALUES (:id, :no, :status, 'test', '1', 1, 'en', 'A',"
    " 'billing', 's', 'd', 'e', :at, :at, :at, 0)"
)
EVENT = (
    "INSERT INTO timeline_events (case_id, at, actor, kind, payload, seq, prev_hash, hash,"
    " salts) VALUES (:id, :at, 'system', :kind, '{}', :seq, '', '', '{}')"
)


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_archived_cases_take_their_archive_time_from_the_timeline(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    early = datetime(2026, 2, 1, tzinfo=UTC)
    async with database_at("0011", backend, request, tmp_path) as engine:
        await _seed(engine, early)
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("SELECT case_no, archived_at, erased_at FROM cases ORDER BY id")
                )
            ).all()
    found = [(no, str(at)[:19] if at else None, erased) for no, at, erased in rows]
    assert found == [("TS-1", "2026-03-04 05:06:00", None), ("TS-2", None, None)]


async def _seed(engine: AsyncEngine, early: datetime) -> None:
    """A complainant with an archived case and a resolved one, as before 0012."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO complainants (id, name, created_at, updated_at)"
                " VALUES (1, 'A', :at, :at)"
            ),
            {"at": early},
        )
        for id_, status in ((1, "archived"), (2, "resolved")):
            await connection.execute(
                text(CASE), {"id": id_, "no": f"TS-{id_}", "status": status, "at": early}
            )
            await connection.execute(
                text(EVENT), {"id": id_, "at": early, "kind": "case_created", "seq": 1}
            )
        await connection.execute(
            text(EVENT), {"id": 1, "at": ARCHIVED, "kind": "archived", "seq": 2}
        )
