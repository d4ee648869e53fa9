"""How fast the timeline chain is written and checked, on SQLite (a file, WAL).

    python -m bench.audit_verify [CASES] [EVENTS_PER_CASE]

Appends EVENTS_PER_CASE events to each of CASES cases through `storage.chain` (one
transaction per case, as the bot does), then runs the check behind
`complaintbot audit verify`; prints events per second for both and the peak memory.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from storage.chain import append_event, verify_database
from storage.database import create_engine
from storage.migrate import upgrade
from storage.models import Case, Complainant

START = datetime(2026, 1, 5, 1, tzinfo=UTC)


async def fill(url: str, cases: int, per_case: int) -> float:
    engine = create_engine(url)
    await upgrade(engine)
    began = time.perf_counter()
    async with AsyncSession(engine) as session, session.begin():
        person = Complainant(name="Li", created_at=START, updated_at=START)
        session.add(person)
        await session.flush()
        assert person.id is not None
        person_id = person.id
    for number in range(cases):
        async with AsyncSession(engine) as session, session.begin():
            case = Case(
                case_no=f"TS-20260105-{number:06d}",
                status="in_progress",
                channel="bench",
                conversation=str(number),
                complainant_id=person_id,
                locale="zh_CN",
                contact_name="Li",
                category="appeal",
                subject="Example Telecom",
                description="charged twice",
                expectation="refund",
                received_at=START,
                created_at=START,
                updated_at=START,
            )
            session.add(case)
            await session.flush()
            assert case.id is not None
            for step in range(per_case):
                at = START + timedelta(minutes=step)
                payload = {"text": f"message {step} of case {number}", "agent": "Li Lei"}
                await append_event(session, case.id, at, "agent:1", "agent_message", payload)
    await engine.dispose()
    return time.perf_counter() - began


async def check(url: str) -> tuple[float, int, int]:
    engine = create_engine(url)
    began = time.perf_counter()
    result = await verify_database(engine)
    elapsed = time.perf_counter() - began
    await engine.dispose()
    assert not result.breaks, result.breaks[:3]
    return elapsed, result.events, result.cases


def main(argv: list[str]) -> None:
    cases = int(argv[0]) if argv else 2000
    per_case = int(argv[1]) if len(argv) > 1 else 10
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        written = asyncio.run(fill(url, cases, per_case))
        elapsed, events, checked = asyncio.run(check(url))
    total = cases * per_case
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"chain append: {total} events in {cases} cases, {total / written:,.0f} events/s")
    print(f"audit verify: {events} events in {checked} cases, {events / elapsed:,.0f} events/s")
    print(f"peak memory: {peak:,.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
