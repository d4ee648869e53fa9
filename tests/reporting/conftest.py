"""What the reporting tests share: a database the real bot filled with a case in every
state a ledger shows (`tests.reporting.test_rows.fill_every_state`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.reporting.test_rows import fill_every_state
from tests.support.clock import FakeClock


@pytest.fixture
async def every_state(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, tmp_path: Path
) -> dict[str, str]:
    return await fill_every_state(repository, outbox, clock, tmp_path)
