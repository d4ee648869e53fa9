"""How long a staff search takes (`storage.search.find_cases`) with 100,000 cases.

    python -m bench.search [CASES] [--db FILE] [--postgres [URL]] [--runs N]

Fills a SQLite file with CASES cases received over six months, with Chinese (four in
five) and English descriptions made of everyday complaints, names, phone numbers,
email addresses and one message each, their search terms made as for a new case; then
times typical searches (a page of 50 and the total), each N times after one warm-up
run, and prints the median and 95th percentile in milliseconds. The issue's goal: under
300 ms per search. With `--postgres` the same cases are searched on PostgreSQL too: in
a throwaway cluster (as `bench.ledger` starts one) or in the database at URL (emptied
and filled anew). `--db FILE` keeps the SQLite database and reuses it next time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.ledger import _empty, filled_cases
from storage.database import create_engine
from storage.migrate import upgrade
from storage.models import Agent, Case, CaseSearch, Complainant, Message
from storage.search import CaseFilter, find_cases
from storage.search_terms import case_terms

START = datetime(2026, 5, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)
CHUNK = 5000
AGENTS = ("李雷", "韩梅梅", "王芳", "Zhang Wei", "陈静")
STATUSES = ("new", "acknowledged", "in_progress", "awaiting_user", "resolved", "archived")
CATEGORIES = ("appeal", "consultation", "help_request", "report")
CN_ISSUES = (
    "本月话费被多扣了{n}元",
    "宽带网速很慢，晚上经常断线",
    "申请退款以后一直没有到账",
    "客服电话一直打不通，在线客服也不回复",
    "套餐被擅自变更，资费比原来贵了{n}元",
    "每天收到大量骚扰短信和推销电话",
    "家里手机信号很差，打电话经常中断",
    "快递包裹丢失，商家拒绝赔偿",
    "会员自动续费，没有经过我同意就扣款",
    "充值{n}元以后余额没有变化",
    "银行卡被重复扣费两次",
    "订单取消以后仍然扣款",
    "退订增值业务以后仍然收费",
    "营业厅工作人员态度恶劣",
    "网购的商品质量有问题，要求退货被拒绝",
)
CN_ASKS = ("希望尽快核实并退款。", "请给出合理解释。", "要求赔偿损失。", "请尽快处理。")
EN_ISSUES = (
    "I was charged twice for my monthly plan, {n} yuan each time.",
    "My refund has not arrived after two weeks.",
    "The broadband keeps disconnecting every evening.",
    "Roaming charges appeared although I never left home.",
    "Customer service never answers the phone.",
    "My parcel was lost and the seller refuses to pay.",
    "A subscription renewed automatically without my consent.",
)
EN_ASKS = ("Please refund the money.", "I expect an explanation.", "Please fix this soon.")
COMPANIES = (
    "某某科技有限公司",
    "某通信公司",
    "某某银行信用卡中心",
    "某电商平台",
    "Example Telecom",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
EN_NAMES = ("Alice Wang", "Bob Smith", "Carol Lee", "David Chen", "Emma Brown")


def _case(number: int, cases: int, rng: random.Random) -> tuple[dict[str, Any], str]:
    """A case's row and the text of its one message."""
    english = number % 5 == 0
    issues, asks = (EN_ISSUES, EN_ASKS) if english else (CN_ISSUES, CN_ASKS)
    parts = [rng.choice(issues).format(n=rng.randint(5, 300)) for _ in range(rng.randint(1, 3))]
    description = ("  " if english else "，").join(parts) + ("  " if english else "。")
    description += rng.choice(asks)
    name = rng.choice(EN_NAMES) if english else rng.choice(SURNAMES) + rng.choice(GIVEN)
    received = START + timedelta(seconds=number * 15_552_000 // cases)
    status = STATUSES[number % len(STATUSES)]
    answered = status not in ("new", "acknowledged")
    resolved = status in ("resolved", "archived")
    row = {
        "id": number + 1,
        "case_no": f"TS-{received:%Y%m%d}-{number:06d}",
        "status": status,
        "channel": "email" if english else "telegram",
        "conversation": str(number),
        "complainant_id": 1,
        "locale": "en" if english else "zh_CN",
        "contact_name": name,
        "contact_phone": f"+86138{number:08d}",
        "contact_email": f"user{number}@example.com" if number % 3 == 0 else None,
        "category": CATEGORIES[number % len(CATEGORIES)],
        "subject": rng.choice(COMPANIES),
        "description": description,
        "expectation": rng.choice(asks),
        "received_at": received,
        "created_at": received,
        "updated_at": received,
        "response_due_at": received + timedelta(days=1),
        "resolution_due_at": received + timedelta(days=10),
        "first_response_at": received + timedelta(hours=5) if answered else None,
        "resolved_at": received + timedelta(days=5) if resolved else None,
        "handler_id": 1 + number % len(AGENTS) if answered else None,
    }
    message = "补充一下：" + rng.choice(CN_ISSUES).format(n=rng.randint(5, 300))
    return row, ("Also: " + rng.choice(EN_ISSUES).format(n=7) if english else message)


async def fill(url: str, cases: int) -> float:
    engine = create_engine(url)
    await upgrade(engine)
    began = time.perf_counter()
    rng = random.Random(18)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Complainant), [{"id": 1, "name": "-", "created_at": START, "updated_at": START}]
        )
        await connection.execute(
            insert(Agent),
            [
                {"id": n, "channel": "telegram", "external_id": str(n), "name": name}
                | {"created_at": START}
                for n, name in enumerate(AGENTS, 1)
            ],
        )
    for first in range(0, cases, CHUNK):
        made = [_case(n, cases, rng) for n in range(first, min(first + CHUNK, cases))]
        async with engine.begin() as connection:
            await connection.execute(insert(Case), [row for row, _ in made])
            await connection.execute(insert(Message), [_message(r, text) for r, text in made])
            await connection.execute(insert(CaseSearch), [_terms(r, text) for r, text in made])
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("ANALYZE")
    await engine.dispose()
    return time.perf_counter() - began


def _message(row: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "channel": row["channel"],
        "direction": "in",
        "transport_id": f"{row['id']}:1",
        "conversation": row["conversation"],
        "sender_id": row["conversation"],
        "kind": "text",
        "text": text,
        "raw": {},
        "at": row["received_at"],
        "case_id": row["id"],
    }


def _terms(row: dict[str, Any], message: str) -> dict[str, Any]:
    texts = [row["subject"], row["description"], row["expectation"], message]
    found = case_terms(
        row["case_no"], row["contact_name"], row["contact_phone"], row["contact_email"], texts
    )
    return {"case_id": row["id"], "terms": sorted(found)}


QUERIES = {
    "two-character word 退款": CaseFilter(text="退款"),
    "four-character phrase 骚扰短信": CaseFilter(text="骚扰短信"),
    "single character 扣": CaseFilter(text="扣"),
    "English word refund": CaseFilter(text="refund"),
    "phone number 13800004242": CaseFilter(text="13800004242"),
    "text + status 退款 in_progress": CaseFilter(text="退款", status="in_progress"),
    "no text, overdue only": CaseFilter(overdue=True),
    "no text, all cases": CaseFilter(),
}


async def timings(url: str, runs: int) -> dict[str, tuple[float, float, int]]:
    """Per query: median ms, 95th percentile ms, total matches."""
    engine = create_engine(url)
    figures = {}
    try:
        for name, where in QUERIES.items():
            page = await find_cases(engine, where, now=NOW)  # warm-up
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                await find_cases(engine, where, now=NOW)
                times.append((time.perf_counter() - began) * 1000)
            p95 = statistics.quantiles(times, n=20)[-1] if runs > 1 else times[0]
            figures[name] = (statistics.median(times), p95, page.total)
    finally:
        await engine.dispose()
    return figures


def sqlite_database(cases: int, database: Path) -> str:
    url = f"sqlite+aiosqlite:///{database}"
    if database.exists() and asyncio.run(filled_cases(url)) == cases:
        print(f"reusing {database} ({cases:,} cases)")
        return url
    for stale in (database, *database.parent.glob(database.name + "-*")):
        stale.unlink(missing_ok=True)
    print(f"filled {cases:,} cases on SQLite in {asyncio.run(fill(url, cases)):.1f} s")
    return url


@contextmanager
def postgres_database(given: str | None, cases: int) -> Iterator[str | None]:
    """A PostgreSQL database filled with `cases` cases: at `given`, or with "start" in a
    throwaway cluster; None without."""
    from tests.support.postgres import PostgresCluster

    if given is None:
        yield None
        return
    if given != "start":
        asyncio.run(_empty(given))
        print(f"filled {cases:,} cases on PostgreSQL in {asyncio.run(fill(given, cases)):.1f} s")
        yield given
        return
    with PostgresCluster() as cluster:
        asyncio.run(cluster.create_database("bench"))
        url = cluster.url("bench")
        print(f"filled {cases:,} cases on PostgreSQL in {asyncio.run(fill(url, cases)):.1f} s")
        yield url


def main(argv: list[str]) -> None:
    options = argparse.ArgumentParser(prog="python -m bench.search")
    options.add_argument("cases", nargs="?", type=int, default=100_000)
    options.add_argument("--db", type=Path, help="keep the SQLite database in this file")
    options.add_argument("--postgres", nargs="?", const="start", metavar="URL")
    options.add_argument("--runs", type=int, default=20)
    args = options.parse_args(argv)
    with tempfile.TemporaryDirectory() as name, ExitStack() as opened:
        database = args.db.resolve() if args.db else Path(name) / "search.db"
        databases = {"sqlite": sqlite_database(args.cases, database)}
        postgres = opened.enter_context(postgres_database(args.postgres, args.cases))
        if postgres:
            databases["postgresql"] = postgres
        for kind, url in databases.items():
            print(f"{kind}, {args.cases:,} cases, {args.runs} runs each (goal < 300 ms):")
            for query, (median, p95, total) in asyncio.run(timings(url, args.runs)).items():
                print(f"  {query:34} median {median:6.1f} ms  p95 {p95:6.1f} ms  {total:>7,} found")


if __name__ == "__main__":
    main(sys.argv[1:])
