"""Peak memory of reading one mail from IMAP, in a process of its own.

`python -m tests.faults.mail_memory PORT DATA_DIR MAX_MB` reads the INBOX of the test
dovecot on PORT with the real poller and files every mail with the real bot on SQLite
(in DATA_DIR). The INBOX holds a small warm-up mail, then the mail measured: once both are
handled it prints a JSON line: the peak resident size after the warm-up (what reading any
mail costs once: imports, caches) and at the end (MB), the number of cases, and the
evidence kept on the newest case.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Inbound
from bot.router import BotConfig, ComplaintBot
from channels.email.imap import ImapConfig, ImapPoller
from storage import migrate
from storage.database import create_engine
from storage.mail_cursors import SqlMailCursors
from storage.models import Case, Evidence
from storage.repository import SqlRepository
from tests.support.dovecot import PASSWORD, USER


def peak_mb() -> float:
    """The process's peak resident size so far. Linux's `VmHWM`, not `ru_maxrss`: that one
    keeps the peak of the process this one was forked from (the test runner)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(port: int, data_dir: Path, max_mb: int) -> dict[str, object]:
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'complaintbot.db'}")
    await migrate.upgrade(engine)
    bot = ComplaintBot(SqlRepository(engine, data_dir), BotConfig())
    warmed, filed = asyncio.Event(), asyncio.Event()

    async def handle(inbound: Inbound) -> None:
        await bot.handle_safely(inbound)
        (filed if warmed.is_set() else warmed).set()

    config = ImapConfig("127.0.0.1", port, "none", USER, PASSWORD, poll_seconds=120.0)
    poller = ImapPoller(config, handle, SqlMailCursors(engine), max_file=max_mb << 20)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(warmed.wait(), 120)
        before = peak_mb()
        await asyncio.wait_for(filed.wait(), 120)
        async with AsyncSession(engine) as session:
            newest = select(func.max(Case.id)).scalar_subquery()
            rows = (
                await session.execute(
                    select(Evidence.name, Evidence.size).where(Evidence.case_id == newest)
                )
            ).all()
            cases = await session.scalar(select(func.count()).select_from(Case))
    finally:
        poller.stop()
        await asyncio.wait_for(task, 15)
        await engine.dispose()
    evidence = sorted([name, size] for name, size in rows)
    return {
        "before_mb": round(before, 1),
        "peak_mb": round(peak_mb(), 1),
        "cases": cases,
        "evidence": evidence,
    }


if __name__ == "__main__":
    port, data_dir, max_mb = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(main(port, data_dir, max_mb))))
