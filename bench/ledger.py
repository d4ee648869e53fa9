"""How long `complaintbot ledger export` and `complaintbot report` take and how much
memory they need, as ratios within one run (absolute seconds move with the machine's load).

    python -m bench.ledger [CASES] [--db FILE] [--postgres [URL]] [--no-baselines] [--repeat N]

Fills a SQLite file with CASES resolved cases received over six months (each with a
handler, two handler events on its timeline, a verification record and an answered
survey; every fourth referred to a partner, every twentieth to two), then runs each
real command in a fresh process and prints its time and peak memory: the memory its
processes (the command's and its second process, if it starts one) held at once, their
PSS (shared pages split between the processes that share them) added up and sampled
ten times a second; and, as an upper bound, each process's own peak RSS added up (which
counts shared libraries once per process, and peaks that did not coincide). The steps:
the ledger as CSV and as XLSX, and the quality report. The events
are written in bulk, not through `storage.chain`: the export reads them, it does not
check the chain.

As baselines for the XLSX writer, the same sheet is written in one process each by this
project's writer, by XlsxWriter in `constant_memory` mode and by rustpy-xlsxwriter
(`bench.xlsx_baselines`; `--no-baselines` leaves them out). With `--postgres` the same
cases are filled into PostgreSQL and the CSV ledger is made from there too: in a
throwaway cluster started for the run (initdb and pg_ctl, as the tests do), or in the
database at URL. Last come the ratios the issue sets goals for: XLSX ≤ 4× the CSV,
PostgreSQL's CSV ≤ 1.5× SQLite's, the report ≤ 3× the CSV, peak memory ≤ 300 MB.

`--repeat N` runs every step N times, round after round, and keeps each one's shortest
time: other work on the machine slows single runs down, not all of them.

With `--db FILE` the database is kept in FILE and reused by the next run with the same
CASES (filling a million cases takes minutes); without it, a temporary file is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from storage.database import create_engine
from storage.migrate import upgrade
from storage.models import Agent, Case, Complainant, Partner, Referral, Survey, TimelineEvent

START = datetime(2026, 5, 1, tzinfo=UTC)
# The days the commands are asked for: all the filled cases.
PERIOD = ["--from", "2026-05-01", "--to", "2026-11-30"]
CHUNK = 5000
DESCRIPTION = "我的手机号码本月被多扣了30元话费，客服电话一直打不通，希望尽快核实并退款。" * 2


def _case(number: int, cases: int) -> dict[str, Any]:
    # Spread over six months (15,552,000 seconds).
    received = START + timedelta(seconds=number * 15_552_000 // cases)
    return {
        "id": number + 1,
        "case_no": f"TS-{received:%Y%m%d}-{number:07d}",
        "status": "archived",
        "channel": "telegram" if number % 3 else "email",
        "conversation": str(number),
        "complainant_id": 1,
        "locale": "zh_CN",
        "contact_name": "张三",
        "contact_phone": "+8613812345678",
        "contact_email": "zhangsan@example.com",
        "category": "appeal",
        "subject": "某某科技有限公司",
        "description": DESCRIPTION,
        "expectation": "退款并解释原因",
        "received_at": received,
        "created_at": received,
        "updated_at": received,
        "receipt_due_at": received + timedelta(hours=1),
        "receipt_sent_at": received + timedelta(seconds=2),
        "response_due_at": received + timedelta(hours=24),
        "first_response_at": received + timedelta(minutes=30 + number % 2000),
        "resolution_due_at": received + timedelta(days=10),
        "resolved_at": received + timedelta(days=number % 12, hours=3),
        "reopened_count": number % 7 == 0,
        "handler_id": 1 + number % 2,
        "resolution": "已核实为系统重复扣费，已退款30元。",
        "verification": {
            "facts": "confirmed",
            "nature": "system_fault",
            "responsibility": "company",
            "severity": "minor",
        },
    }


def _events(number: int, received: datetime) -> list[dict[str, Any]]:
    return [
        {
            "case_id": number + 1,
            "at": received + timedelta(minutes=seq),
            "actor": f"agent:{1 + (number + seq) % 2}",
            "kind": "claimed" if seq == 1 else "assigned",
            "payload": {"handler": ("李雷", "韩梅梅")[(number + seq) % 2]},
            "seq": seq,
            "prev_hash": "",
            "hash": "",
            "salts": {},
        }
        for seq in (1, 2)
    ]


# The partners cases are referred to: every fourth case to one of them, every twentieth
# to a second one as well; one referral in seven is never answered.
PARTNERS = ("alipay", "chinanet")


def _referrals(number: int, received: datetime) -> list[dict[str, Any]]:
    if number % 4:
        return []
    partners = PARTNERS if number % 20 == 0 else PARTNERS[number % 8 // 4 :][:1]
    return [
        {
            "case_id": number + 1,
            "case_no": f"TS-{received:%Y%m%d}-{number:07d}",
            "partner_key": partner,
            "asked_at": received + timedelta(hours=2 + at),
            "due_at": received + timedelta(days=3, hours=2 + at),
            "answered_at": (
                None if number % 7 == 0 else received + timedelta(hours=5 + number % 97 + at)
            ),
            "text": "请协助核实该笔扣费。",
        }
        for at, partner in enumerate(partners)
    ]


def _survey(number: int, received: datetime) -> dict[str, Any]:
    return {
        "case_id": number + 1,
        "round": 1,
        "created_at": received + timedelta(days=1),
        "asked_at": received + timedelta(days=1),
        "answered_at": received + timedelta(days=1, hours=2),
        "score": 1 + number % 5,
        "outcome": "satisfied" if number % 5 >= 3 else "unsatisfied",
    }


async def fill(url: str, cases: int) -> float:
    engine = create_engine(url)
    await upgrade(engine)
    began = time.perf_counter()
    async with engine.begin() as connection:
        await connection.execute(
            insert(Complainant),
            [{"id": 1, "name": "张三", "created_at": START, "updated_at": START}],
        )
        await connection.execute(
            insert(Agent),
            [
                {"id": n, "channel": "telegram", "external_id": str(n), "name": name}
                | {"created_at": START}
                for n, name in ((1, "李雷"), (2, "韩梅梅"))
            ],
        )
        await connection.execute(
            insert(Partner),
            [
                {"key": key, "name": key, "email": f"{key}@example.com", "created_at": START}
                for key in PARTNERS
            ],
        )
    for first in range(0, cases, CHUNK):
        rows = [_case(n, cases) for n in range(first, min(first + CHUNK, cases))]
        async with engine.begin() as connection:
            await connection.execute(insert(Case), rows)
            await connection.execute(
                insert(TimelineEvent),
                [e for r in rows for e in _events(r["id"] - 1, r["received_at"])],
            )
            await connection.execute(
                insert(Survey), [_survey(r["id"] - 1, r["received_at"]) for r in rows]
            )
            referrals = [x for r in rows for x in _referrals(r["id"] - 1, r["received_at"])]
            await connection.execute(insert(Referral), referrals)
    if engine.dialect.name == "postgresql":
        # The statistics a database in use has (autovacuum gathers them a while after a
        # bulk load): without them the planner guesses a few hundred rows per batch.
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("ANALYZE")
    await engine.dispose()
    return time.perf_counter() - began


Measured = tuple[float, float, float]
"""Seconds, the peak of the processes' PSS added up, their own peak RSS added up (MB)."""


def timed_command(args: list[str], url: str, directory: Path) -> Measured:
    """Runs `complaintbot ARGS` in a fresh process on the bench database (`timed`)."""
    code = (
        "from complaintbot.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
    )
    return timed(code, url, directory)


def timed(code: str, url: str, directory: Path) -> Measured:
    """Runs Python `code` in a fresh process (the settings naming the bench database):
    its seconds and memory, with that of any process it starts (`Measured`)."""
    measured = (
        "import sys, time\n"
        "began = time.perf_counter()\n"
        f"{code}"
        "elapsed = time.perf_counter() - began\n"
        "from resource import RUSAGE_CHILDREN, RUSAGE_SELF, getrusage\n"
        "peak = sum(getrusage(r).ru_maxrss for r in (RUSAGE_SELF, RUSAGE_CHILDREN)) / 1024\n"
        "print(f'{elapsed} {peak}', file=sys.stderr)\n"
    )
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(directory), "CALENDAR": "cn-workdays"}
    with subprocess.Popen(
        [sys.executable, "-c", measured],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        pss = 0
        while run.poll() is None:
            pss = max(pss, _tree_pss(run.pid))
            time.sleep(0.1)  # a sampling period, not a wait for a condition
        errors = run.stderr.read() if run.stderr else ""
    if run.returncode:
        raise RuntimeError(f"the bench's process failed:\n{errors}")
    elapsed, rss = errors.strip().splitlines()[-1].split()
    return float(elapsed), pss / 1024, float(rss)


def _tree_pss(root: int) -> int:
    """The PSS (kB) of process `root` and all its descendants, added up."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended meanwhile
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total


def export(url: str, kind: str, directory: Path) -> tuple[Measured, int]:
    """The export in a fresh process: what was measured, and the file's size."""
    out = directory / f"ledger.{kind}"
    args = ["ledger", "export", *PERIOD, "--format", kind, "-o", str(out)]
    measured = timed_command(args, url, directory)
    return measured, out.stat().st_size


async def filled_cases(url: str) -> int | None:
    """How many cases an existing bench database holds (None if it holds none)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            held = await connection.exec_driver_sql("SELECT count(*) FROM cases")
            return int(held.scalar_one()) or None
    except DBAPIError:  # no cases table: not filled (yet)
        return None
    finally:
        await engine.dispose()


def bench_database(cases: int, database: Path) -> str:
    """The URL of a SQLite file holding `cases` cases: `database` as it is when it holds
    that many, otherwise filled anew."""
    url = f"sqlite+aiosqlite:///{database}"
    held = asyncio.run(filled_cases(url)) if database.exists() else None
    if held == cases:
        print(f"reusing {database} ({cases:,} cases)")
        return url
    for stale in (database, *database.parent.glob(database.name + "-*")):
        stale.unlink(missing_ok=True)  # with its -wal and -shm
    filled = asyncio.run(fill(url, cases))
    print(f"filled {cases:,} cases in {filled:.1f} s")
    return url


def parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("cases", nargs="?", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="keep the database in this file and reuse it")
    return parser


def arguments(prog: str, argv: list[str]) -> argparse.Namespace:
    return parser(prog).parse_args(argv)


def report(url: str, directory: Path) -> tuple[Measured, dict[str, Any]]:
    """The report in a fresh process: what was measured, and the metrics."""
    out = directory / "report"
    measured = timed_command(["report", *PERIOD, "-o", str(out)], url, directory)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return measured, metrics


def baseline(writer: str, url: str, directory: Path) -> Measured:
    """The XLSX ledger written by `writer` (`bench.xlsx_baselines`) in a fresh process."""
    out = directory / f"ledger-{writer}.xlsx"
    code = f"from bench.xlsx_baselines import main\nmain({[writer, url, str(out)]!r})\n"
    return timed(code, url, directory)


@contextmanager
def postgres_database(given: str | None, cases: int) -> Iterator[str | None]:
    """The URL of a PostgreSQL database holding `cases` cases: `given` (filled anew
    unless it holds that many), or with `given` "start" a database in a throwaway cluster
    (initdb and pg_ctl on a free loopback port, as the tests start theirs); None without."""
    # The tests' cluster: the bench runs from the repository, like them.
    from tests.support.postgres import PostgresCluster

    if given is None:
        yield None
        return
    if given != "start":
        if asyncio.run(filled_cases(given)) != cases:
            asyncio.run(_empty(given))
            filled = asyncio.run(fill(given, cases))
            print(f"filled {cases:,} cases on PostgreSQL in {filled:.1f} s")
        yield given
        return
    with PostgresCluster() as cluster:
        asyncio.run(cluster.create_database("bench"))
        url = cluster.url("bench")
        print(f"filled {cases:,} cases on PostgreSQL in {asyncio.run(fill(url, cases)):.1f} s")
        yield url


async def _empty(url: str) -> None:
    """Drops what a bench database holds, for `fill` to make it anew."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            await connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        await engine.dispose()


def _line(name: str, measured: Measured, cases: int, more: str = "") -> str:
    elapsed, pss, rss = measured
    rate = cases / elapsed
    return (
        f"{name}: {elapsed:.1f} s ({rate:,.0f} cases/s, 1,000,000 in about "
        f"{1_000_000 / rate:.0f} s), peak memory {pss:,.0f} MB (RSS peaks added up "
        f"{rss:,.0f} MB){more}"
    )


def main(argv: list[str]) -> None:
    options = parser("python -m bench.ledger")
    options.add_argument(
        "--postgres",
        nargs="?",
        const="start",
        metavar="URL",
        help="the CSV on PostgreSQL too: in a throwaway cluster, or in the database at URL "
        "(postgresql+asyncpg://...; filled anew unless it holds CASES cases)",
    )
    options.add_argument(
        "--no-baselines", action="store_true", help="without XlsxWriter and rustpy-xlsxwriter"
    )
    options.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run every step N times, one round after the other, and keep each one's "
        "shortest time (a machine busy with other work slows some runs down)",
    )
    args = options.parse_args(argv)
    cases: int = args.cases
    with tempfile.TemporaryDirectory() as name, ExitStack() as opened:
        directory = Path(name)
        url = bench_database(cases, args.db.resolve() if args.db else directory / "bench.db")
        postgres = opened.enter_context(postgres_database(args.postgres, cases))
        steps = _steps(cases, url, postgres, directory, baselines=not args.no_baselines)
        seconds: dict[str, float] = {}
        peaks: dict[str, float] = {}
        lines: dict[str, str] = {}
        for _round in range(args.repeat):
            for step, run in steps.items():
                measured, more = run()
                elapsed, peak = measured[0], measured[1]
                if elapsed < seconds.get(step, float("inf")):
                    seconds[step], lines[step] = elapsed, _line(step, measured, cases, more)
                peaks[step] = max(peak, peaks.get(step, 0.0))
    for line in lines.values():
        print(line)
    print(_ratios(seconds, peaks))


Step = Callable[[], tuple[Measured, str]]


def _steps(
    cases: int, url: str, postgres: str | None, directory: Path, baselines: bool
) -> dict[str, Step]:
    """What is measured, by name: each gives what it measured and a remark."""

    def exported(url: str, kind: str) -> Step:
        def run() -> tuple[Measured, str]:
            measured, size = export(url, kind, directory)
            return measured, f", file {size / 1e6:,.1f} MB"

        return run

    def reported() -> tuple[Measured, str]:
        measured, metrics = report(url, directory)
        assert metrics["cases"] == cases, metrics["cases"]
        return measured, f", {metrics['checks_failed']} checks failed"

    def written_by(writer: str) -> Step:
        return lambda: (baseline(writer, url, directory), "")

    steps: dict[str, Step] = {"csv": exported(url, "csv")}
    if postgres:
        steps["csv on postgresql"] = exported(postgres, "csv")
    steps |= {"xlsx": exported(url, "xlsx"), "report": reported}
    for writer in ("own", "xlsxwriter", "rustpy") if baselines else ():
        steps[f"xlsx, one process, {writer}"] = written_by(writer)
    return steps


def _ratios(seconds: dict[str, float], peaks: dict[str, float]) -> str:
    """The figures of this run against each other, with the issue's goals."""
    csv = seconds["csv"]
    lines = [
        f"xlsx / csv: {seconds['xlsx'] / csv:.2f} (goal ≤ 4)",
        f"report / csv: {seconds['report'] / csv:.2f} (goal ≤ 3)",
    ]
    if "csv on postgresql" in seconds:
        postgres = seconds["csv on postgresql"] / csv
        lines.append(f"postgresql csv / sqlite csv: {postgres:.2f} (goal ≤ 1.5)")
    own = seconds.get("xlsx, one process, own")
    baselines = {w: seconds.get(f"xlsx, one process, {w}") for w in ("xlsxwriter", "rustpy")}
    for writer, other in baselines.items():
        if own and other:
            lines.append(f"{writer} / own xlsx writer (one process each): {other / own:.2f}")
    if fastest := min(filter(None, baselines.values()), default=None):
        # The command writes a big ledger in two processes, which only the own writer can.
        lines.append(
            f"xlsx command / fastest baseline: {seconds['xlsx'] / fastest:.2f} "
            "(the own writer is kept while this is below 1)"
        )
    lines.append(f"peak memory (PSS): {max(peaks.values()):,.0f} MB (goal ≤ 300)")
    return "ratios within this run:\n  " + "\n  ".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
