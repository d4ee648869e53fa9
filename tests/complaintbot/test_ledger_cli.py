"""`complaintbot ledger export` as a compliance officer runs it, on a database the real bot
filled with cases in every state; the XLSX is read back with openpyxl."""

from __future__ import annotations

import contextlib
import csv
import os
import pty
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.router import ComplaintBot
from reporting.export import LedgerFormat, Period, export_ledger
from reporting.reading import count_cases
from reporting.rows import LedgerSheet
from scheduler.calendar import WorkdayCalendar
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.complaintbot.test_cli import complaintbot
from tests.reporting.test_rows import STATES, fill_every_state, refer_every_outcome
from tests.support.chat import Chat
from tests.support.clock import FakeClock

NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]


@pytest.fixture
async def every_state(
    repository: SqlRepository,
    outbox: SqlOutbox,
    clock: FakeClock,
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
) -> tuple[dict[str, str], dict[str, str]]:
    """The cases by state (three referred to partners), and the environment of a CLI on
    their database."""
    cases = await fill_every_state(repository, outbox, clock, tmp_path)
    await refer_every_outcome(engine, cases)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}
    return cases, env


def read_xlsx(path: Path) -> tuple[list[str], list[list[object]], dict[str, str], list[str]]:
    """Headers, rows, the 'about' sheet as a dict, and the sheet names."""
    book = openpyxl.load_workbook(path, read_only=True)
    ledger, about = book.worksheets
    rows = [list(row) for row in ledger.iter_rows(values_only=True)]
    facts = {str(k): str(v) for k, v in about.iter_rows(values_only=True)}
    names = book.sheetnames
    book.close()
    return [str(h) for h in rows[0]], rows[1:], facts, names


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


async def test_the_xlsx_has_every_column_filled_in_chinese_and_masked(
    every_state: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    cases, env = every_state
    out = tmp_path / "台账.xlsx"
    run = complaintbot(
        ["ledger", "export", *NOVEMBER, "--format", "xlsx", "-o", str(out)], tmp_path, env
    )
    assert run.returncode == 0, run.stderr
    assert f"2026-11-01 至 2026-11-30 受理的 7 件投诉已写入 {out}。" in run.stdout

    headers, rows, about, sheets = read_xlsx(out)
    assert sheets == ["台账", "导出说明"]
    assert headers[:6] == [
        "受理编号",
        "受理时间（Asia/Shanghai）",
        "渠道",
        "投诉人（已脱敏）",
        "电话（已脱敏）",
        "电子邮件（已脱敏）",
    ]
    assert about["投诉人姓名和联系方式"] == "已脱敏"
    assert about["时间段"] == "2026-11-01 – 2026-11-30" and about["案件数"] == "7"
    by_case = {row[0]: dict(zip(headers, row, strict=True)) for row in rows}
    assert list(by_case) == [cases[s] for s in STATES]

    satisfied = by_case[cases["satisfied"]]
    empty = [header for header, value in satisfied.items() if value in (None, "")]
    assert empty == [], f"columns left empty for a closed case: {empty}"
    assert satisfied["投诉人（已脱敏）"] == "A*********"
    assert satisfied["电话（已脱敏）"] == "+86138****5678"
    assert satisfied["电子邮件（已脱敏）"] == "a***@example.com"
    assert (
        satisfied["类型"] == "申诉"
        and satisfied["被投诉方"] == "Example Telecom, ICP 京B2-20260001"
    )
    assert satisfied["投诉内容"] == (
        "I was charged 30 yuan and I don't know why\nIt was on last month's bill."
    )
    assert satisfied["期望结果"] == "A refund and an explanation"
    assert satisfied["处理人"] == "Agent li"
    assert (satisfied["事实认定"], satisfied["问题性质"]) == ("事实属实", "系统故障")
    assert satisfied["处理结果"] == "The double charge was refunded."
    assert satisfied["满意度评分"] == 5 and satisfied["状态"] == "已归档"
    assert satisfied["回执时限"] == satisfied["办结时限"] == "按时"
    # Filed and resolved on Sunday 22 November: no working time passed.
    assert satisfied["办结用时（工作小时）"] == 0
    # Times are real spreadsheet times on the Shanghai wall clock.
    received = satisfied["受理时间（Asia/Shanghai）"]
    assert isinstance(received, datetime) and received.date().isoformat() == "2026-11-22"
    assert (received.hour, received.microsecond) == (10, 0)  # 02:00 UTC plus the intake

    assert by_case[cases["acknowledged"]]["首次答复时限"] == "超时"
    assert by_case[cases["in_progress"]]["处理人"] == "Agent li, Agent wang"
    assert by_case[cases["awaiting_user"]]["状态"] == "等待投诉人回复"
    assert by_case[cases["reopened"]]["重新处理次数"] == 1
    assert by_case[cases["reopened"]]["满意度评分"] == 2
    no_answer = by_case[cases["no_answer"]]
    assert no_answer["满意度评分"] == no_answer["满意度回复时间（Asia/Shanghai）"] == "未回复"
    assert isinstance(no_answer["满意度回访时间（Asia/Shanghai）"], datetime)
    assert (
        satisfied["合作方"],
        satisfied["合作方转办时间 / 答复时间（Asia/Shanghai）"],
        satisfied["合作方是否按时答复"],
    ) == (
        "alipay, chinanet",
        "2026-11-22 11:00:00 / 2026-11-22 13:00:00; 2026-11-22 11:10:00 / 2026-11-22 14:30:00",
        "按时, 逾期答复",
    )
    assert by_case[cases["in_progress"]]["合作方是否按时答复"] == "逾期未答复, 未到期"
    assert by_case[cases["acknowledged"]]["合作方"] is None  # never referred


async def test_the_csv_in_english_with_full_contacts_says_so(
    every_state: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    cases, env = every_state
    out = tmp_path / "ledger.csv"
    args = [
        "ledger",
        "export",
        *NOVEMBER,
        "--format",
        "csv",
        "-o",
        str(out),
        "--unmasked",
        "--reason",
        "audit",
    ]
    run = complaintbot(args, tmp_path, {**env, "DEFAULT_LOCALE": "en", "TIMEZONE": "UTC"})
    assert run.returncode == 0, run.stderr
    assert f"7 cases received from 2026-11-01 to 2026-11-30 written to {out}." in run.stdout
    rows = {row["Case number"]: row for row in read_csv(out)}
    assert list(rows) == [cases[s] for s in STATES]
    satisfied = rows[cases["satisfied"]]
    assert satisfied["Complainant (full)"] == "Alice Wang"
    assert satisfied["Phone (full)"] == "'+8613812345678"  # never run as a formula
    assert satisfied["Email (full)"] == "alice@example.com"
    assert re.fullmatch(r"2026-11-22 02:\d\d:\d\d", satisfied["Received at (UTC)"])
    assert satisfied["Category"] == "Appeal" and satisfied["Status"] == "archived"
    assert satisfied["Satisfaction score"] == "5"
    assert satisfied["Nature"] == "System fault" and satisfied["Severity"] == "Minor"
    no_answer = rows[cases["no_answer"]]
    assert no_answer["Satisfaction answered at (UTC)"] == "no answer"
    assert rows[cases["acknowledged"]]["Handler(s)"] == ""
    assert rows[cases["resolved"]]["Satisfaction asked at (UTC)"] == ""
    resolved = rows[cases["resolved"]]
    assert resolved["Partner(s)"] == "alipay, alipay, chinanet, chinanet"
    assert resolved["Partner asked / answered (UTC)"] == (
        "2026-11-22 03:00:00 / 2026-11-22 05:00:00; 2026-11-22 04:00:00 / 2026-11-22 06:00:00; "
        "2026-11-22 07:00:00 / 2026-11-22 12:00:00; 2026-11-22 08:00:00 / —"
    )
    assert resolved["Partner deadline met"] == "met, answered late, met, missed (no answer)"
    assert rows[cases["acknowledged"]]["Partner(s)"] == ""


@pytest.mark.parametrize("kind", list(LedgerFormat))
async def test_a_second_process_writing_half_the_rows_changes_nothing(
    every_state: tuple[dict[str, str], dict[str, str]],
    engine: AsyncEngine,
    tmp_path: Path,
    kind: LedgerFormat,
) -> None:
    # A big export is written by two processes, a half each; here with 7 cases.
    zone = ZoneInfo("Asia/Shanghai")
    november = Period(date(2026, 11, 1), date(2026, 11, 30))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    told: list[int] = []

    total = await count_cases(engine, *november.bounds(zone))

    async def export(name: str, split_from: int) -> Path:
        out = tmp_path / name
        sheet, calendar = LedgerSheet("zh_CN", zone), WorkdayCalendar(zone)
        written = await export_ledger(
            engine, out, kind, sheet, calendar, november, now, total, told.append, split_from
        )
        assert written == len(STATES)
        return out

    alone = await export(f"alone.{kind}", split_from=1000)
    assert sum(told) == len(STATES)
    told.clear()
    split = await export(f"split.{kind}", split_from=2)
    assert sum(told) == len(STATES)
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []  # no part left
    if kind is LedgerFormat.CSV:
        assert read_csv(split) == read_csv(alone)
    else:
        assert read_xlsx(split) == read_xlsx(alone)
        assert len(read_xlsx(split)[1]) == len(STATES)


async def test_from_and_to_choose_the_days_received(
    every_state: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    _cases, env = every_state
    out = tmp_path / "ledger.csv"

    def export(*period: str) -> int:
        args = ["ledger", "export", *period, "--format", "csv", "-o", str(out)]
        run = complaintbot(args, tmp_path, {**env, "DEFAULT_LOCALE": "en"})
        assert run.returncode == 0, run.stderr
        return len(read_csv(out))

    # Received on 22 November, Shanghai time.
    assert export("--from", "2026-11-22", "--to", "2026-11-22") == len(STATES)
    assert export("--from", "2026-11-23", "--to", "2026-11-30") == 0
    assert export("--from", "2026-10-01", "--to", "2026-11-21") == 0


async def test_a_terminal_shows_a_progress_bar_and_a_pipe_does_not(
    every_state: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    _cases, env = every_state
    args = ["ledger", "export", *NOVEMBER, "--format", "csv", "-o", str(tmp_path / "l.csv")]
    code, shown = on_a_terminal(args, tmp_path, {**env, "DEFAULT_LOCALE": "en"})
    assert code == 0
    assert "Exporting the ledger" in shown and "100%" in shown
    piped = complaintbot(args, tmp_path, env)
    assert piped.returncode == 0 and "████" not in piped.stderr and "%" not in piped.stderr


def on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Runs the command with its stderr on a pseudo-terminal: the exit code and what
    the terminal showed."""
    terminal, screen = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    run = subprocess.run(
        [sys.executable, "-m", "complaintbot", *args],
        cwd=cwd,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=screen,
        timeout=120,
    )
    os.close(screen)
    shown = b""
    with contextlib.suppress(OSError):  # the terminal's other end is closed: all read
        while chunk := os.read(terminal, 4096):
            shown += chunk
    os.close(terminal)
    return run.returncode, shown.decode()


@pytest.mark.parametrize(
    ("period", "said"),
    [
        (
            ["--from", "2026-13-01"],
            "--from “2026-13-01” is not a date: write it as YYYY-MM-DD, for example 2026-05-01.",
        ),
        (["--to", "yesterday"], "--to “yesterday” is not a date"),
        (
            ["--from", "2026-11-30", "--to", "2026-11-01"],
            "--from 2026-11-30 is after --to 2026-11-01: the period would be empty.",
        ),
    ],
)
def test_a_bad_period_gets_one_clear_sentence(period: list[str], said: str, tmp_path: Path) -> None:
    out = tmp_path / "ledger.xlsx"
    args = ["ledger", "export", *period, "--format", "xlsx", "-o", str(out)]
    run = complaintbot(args, tmp_path, {"DEFAULT_LOCALE": "en"})
    assert run.returncode == 2
    assert said in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr and not out.exists()


async def test_by_default_the_last_six_months_and_no_formula_runs(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    chat = Chat(bot, outbox, clock)
    clock.current = datetime.now(UTC) - timedelta(days=200)
    await play(chat, ENGLISH_INTAKE)
    clock.current = datetime.now(UTC) - timedelta(days=10)
    await chat.say("/new")
    formula = '=HYPERLINK("http://evil.example","click")'
    intake = [
        (verb, formula if text.startswith("Example Telecom") else text, expected)
        for verb, text, expected in ENGLISH_INTAKE
    ]
    receipt = await play(chat, intake)
    recent = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]

    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "DEFAULT_LOCALE": "en"}
    for kind in ("csv", "xlsx"):
        out = tmp_path / f"ledger.{kind}"
        run = complaintbot(["ledger", "export", "--format", kind, "-o", str(out)], tmp_path, env)
        assert run.returncode == 0, run.stderr
    (row,) = read_csv(tmp_path / "ledger.csv")
    assert row["Case number"] == recent
    assert row["Party complained about"] == "'" + formula

    book = openpyxl.load_workbook(tmp_path / "ledger.xlsx")
    sheet = book.worksheets[0]
    assert sheet.max_row == 2
    cell = sheet.cell(2, 8)
    assert (cell.value, cell.data_type) == (formula, "s")  # text, not a formula
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    period = dict(book.worksheets[1].iter_rows(values_only=True))["Period"]
    assert str(period).endswith(f" – {today:%Y-%m-%d}")
