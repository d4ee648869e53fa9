"""The sweep schedule: at start, then every interval; a failing pass does not end it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from scheduler.sweeps import Sweeper
from tests.support.waiting import eventually


async def test_the_sweep_runs_at_start_and_again_after_a_failure() -> None:
    runs: list[int] = []

    async def sweep() -> int:
        runs.append(len(runs))
        if len(runs) == 2:
            raise RuntimeError("database went away")
        return 0

    sweeper = Sweeper(sweep, interval_seconds=0.05)
    sweeper.start()
    try:

        async def three_runs() -> bool:
            return len(runs) >= 3

        await eventually(three_runs, within=10)
    finally:
        await sweeper.shutdown()
    stopped_at = len(runs)
    await asyncio.sleep(0)
    assert len(runs) == stopped_at  # nothing runs after shutdown


async def test_one_pass_at_a_time(caplog: pytest.LogCaptureFixture) -> None:
    running = 0
    overlapped = False
    finished = asyncio.Event()
    release = asyncio.Event()

    async def slow_sweep() -> None:
        nonlocal running, overlapped
        running += 1
        overlapped = overlapped or running > 1
        await release.wait()
        running -= 1
        finished.set()

    sweeper = Sweeper(slow_sweep, interval_seconds=0.01)
    sweeper.start()
    try:

        async def started() -> bool:
            return running == 1

        await eventually(started, within=10)

        async def next_run_skipped() -> bool:
            return any(
                "maximum number of running instances" in r.getMessage() for r in caplog.records
            )

        with caplog.at_level(logging.WARNING, logger="apscheduler"):
            await eventually(next_run_skipped, within=10)
        release.set()
        await asyncio.wait_for(finished.wait(), 10)
    finally:
        await sweeper.shutdown()
    assert not overlapped


async def test_shutdown_lets_the_pass_in_progress_finish() -> None:
    began, release = asyncio.Event(), asyncio.Event()
    outcome: list[str] = []

    async def sweep() -> None:
        began.set()
        try:
            await release.wait()
            outcome.append("finished")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    sweeper = Sweeper(sweep, interval_seconds=60)
    sweeper.start()
    await asyncio.wait_for(began.wait(), 10)
    stopping = asyncio.create_task(sweeper.shutdown())
    await asyncio.sleep(0)
    assert not stopping.done()  # it waits for the pass
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert outcome == ["finished"]
