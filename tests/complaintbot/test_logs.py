"""Log lines: no personal data at INFO and above, and a repeated error written once a while."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.limits import InboundLimit
from bot.messages import ConversationStyle, Inbound, InboundKind
from bot.router import BotConfig, ComplaintBot
from bot.staff import DeskConfig
from complaintbot.logs import RepeatFilter, _Redact, configure
from delivery.dispatcher import Dispatcher
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import AgentsGroup, Chat, RecordingSender
from tests.support.clock import FakeClock

DESK = DeskConfig(channel="test", conversation="agents", agent_ids=frozenset({"li"}))
# What the person writes (ENGLISH_INTAKE) and the letter below: none of it may be logged.
PERSONAL = [
    "Alice Wang",
    "13812345678",
    "alice@example.com",
    "charged 30 yuan",
    "Example Telecom",
    "A refund and an explanation",
    "Test User",
    "Mallory Mailer",
    "mallory@example.org",
    "13900001111",
    "water meter",
]


def leaks(records: list[logging.LogRecord]) -> list[str]:
    found = []
    for record in records:
        if record.levelno < logging.INFO:
            continue
        line = record.getMessage()
        if record.exc_info:
            line += logging.Formatter().formatException(record.exc_info)
        found += [f"{value!r} in {line!r}" for value in PERSONAL if value in line]
    return found


async def test_a_whole_flow_logs_ids_and_case_numbers_only(
    repository: SqlRepository,
    outbox: SqlOutbox,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    config = BotConfig(
        desk=DESK, default_locale="en", inbound_limit=InboundLimit(60, 3), mail_auto_reply_limit=1
    )
    bot = ComplaintBot(repository, config, clock)
    sender = RecordingSender()
    chat = Chat(bot, outbox, clock, sender)
    await play(chat, ENGLISH_INTAKE)
    group = AgentsGroup(chat)
    await group.say("li", "/cases")
    # A letter with a name, an address, a phone and a complaint; then the same sender
    # again (the hourly cap on automatic mails is logged) and an auto-reply (robots are).
    mail = Dispatcher(outbox, {"email": sender, "test": sender}, clock)
    for number, automated in ((1, None), (2, None), (3, "auto-replied")):
        clock.advance(seconds=30)
        await bot.handle(
            Inbound(
                channel="email",
                transport_id=f"<m{number}@example.org>",
                conversation="mallory@example.org",
                sender_id="mallory@example.org",
                sender_name="Mallory Mailer",
                received_at=clock.now(),
                kind=InboundKind.TEXT,
                subject=f"water meter {number}",
                text="The water meter is wrong. Call me on 13900001111.",
                automated=automated,
                style=ConversationStyle.LETTER,
            )
        )
    while await mail.run_once():
        pass
    # A flood (over the limit: logged) from the person of the intake.
    for _ in range(5):
        await chat.deliver(chat.inbound(InboundKind.TEXT, text="Alice Wang charged 30 yuan"))
        clock.advance(seconds=-5)
    assert [r for r in caplog.records if "inbound limit" in r.getMessage()]
    assert leaks(caplog.records) == []


# A write the database refuses, on each backend: the error must not quote the values.
_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'no'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


async def test_a_database_error_logs_no_values(
    engine: AsyncEngine,
    repository: SqlRepository,
    clock: FakeClock,
    outbox: SqlOutbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with engine.begin() as connection:
        for statement in _REFUSE[engine.dialect.name]:
            await connection.execute(text(statement))
    caplog.set_level(logging.INFO)
    chat = Chat(ComplaintBot(repository, BotConfig(), clock), outbox, clock)
    inbound = chat.inbound(InboundKind.TEXT, text="Alice Wang charged 30 yuan")
    with pytest.raises(DBAPIError):  # the fallback cannot store it either
        await chat.bot.handle_safely(inbound)
    assert any(r.exc_info for r in caplog.records)
    assert leaks(caplog.records) == []


def test_an_address_in_a_line_is_masked_and_a_secret_too() -> None:
    record = logging.LogRecord(
        "delivery", logging.WARNING, __file__, 1,
        "delivery %s failed for good: %s", (7, "SMTP 550: <bob@example.com> no; token 123:abc"),
        None,
    )  # fmt: skip
    assert _Redact(["123:abc"]).filter(record)
    masked = "delivery 7 failed for good: SMTP 550: <<address>> no; token ***"
    assert record.getMessage() == masked


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logger() -> tuple[logging.Logger, Lines, FakeClock]:
    clock = FakeClock()
    lines = Lines()
    lines.addFilter(RepeatFilter(interval=60, monotonic=clock.monotonic))
    log = logging.getLogger("tests.repeat")
    log.handlers[:] = [lines]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log, lines, clock


def test_a_repeated_error_is_written_once_a_minute_with_its_count(
    logger: tuple[logging.Logger, Lines, FakeClock],
) -> None:
    log, lines, clock = logger
    for _ in range(330):  # a second's worth of the same failure
        log.error("cannot reach the database (%s)", "ConnectionRefusedError")
        clock.advance(seconds=0.003)
    assert lines.lines == ["cannot reach the database (ConnectionRefusedError)"]
    clock.advance(seconds=60)
    log.error("cannot reach the database (%s)", "ConnectionRefusedError")
    assert lines.lines[-1] == (
        "cannot reach the database (ConnectionRefusedError) (repeated 329 times)"
    )
    log.error("cannot reach the database (%s)", "ConnectionRefusedError")
    assert len(lines.lines) == 2


def test_different_errors_and_info_lines_are_not_held_back(
    logger: tuple[logging.Logger, Lines, FakeClock],
) -> None:
    log, lines, _clock = logger
    log.error("delivery %s failed", 1)
    log.error("delivery %s failed", 2)
    log.error("delivery %s failed", 1)
    for _ in range(3):
        log.info("polling Telegram again")
    try:
        raise ValueError("one")
    except ValueError:
        log.exception("outbox pass failed")
    try:
        raise ValueError("two")
    except ValueError:
        log.exception("outbox pass failed")
    assert lines.lines == [
        "delivery 1 failed",
        "delivery 2 failed",
        *["polling Telegram again"] * 3,
        "outbox pass failed",
        "outbox pass failed",
    ]


@contextmanager
def logging_to(log_file: Path, **options: str) -> Iterator[None]:
    """The root logger as `configure` sets it (secret "123:secret") for the block, then
    as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("INFO", ["123:secret"], log_file, **options)
        yield
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = handlers, level


def test_the_log_file_holds_one_line_of_a_repeated_error_and_no_address(
    tmp_path: Path,
) -> None:
    with logging_to(tmp_path / "bot.log"):
        for _ in range(50):
            logging.getLogger("delivery").warning(
                "delivery %s failed for good: %s", 9, "550 <mallory@example.org> unknown"
            )
        logging.getLogger("bot").info("case %s opened", "TS-20261122-0001")
    lines = (tmp_path / "bot.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("delivery 9 failed for good: 550 <<address>> unknown")
    assert lines[1].endswith("[-] case TS-20261122-0001 opened")


def test_json_lines_carry_the_fields_and_no_secret_or_address(tmp_path: Path) -> None:
    with logging_to(tmp_path / "bot.log", log_format="json", worker_id="w-1"):
        logging.getLogger("channels.email").warning(
            "mail refused: 550 <mallory@example.org> unknown (token 123:secret)",
            extra={"channel": "email"},
        )
        logging.getLogger("bot").info(
            "case %s opened", "TS-20261122-0001", extra={"case_no": "TS-20261122-0001"}
        )
        try:
            raise ConnectionError("SMTP said no to mallory@example.org via 123:secret")
        except ConnectionError:
            logging.getLogger("delivery").exception("delivery %s failed", 4)
    text = (tmp_path / "bot.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    keys = {"time", "level", "logger", "message", "case_no", "channel", "worker"}
    assert [set(line) for line in lines] == [keys, keys, keys | {"error"}]
    refused, opened, failed = lines
    assert datetime.fromisoformat(refused["time"]).utcoffset() == timedelta(0)
    assert refused["level"] == "WARNING" and refused["logger"] == "channels.email"
    assert refused["message"] == "mail refused: 550 <<address>> unknown (token ***)"
    assert (refused["channel"], refused["case_no"], refused["worker"]) == ("email", None, "w-1")
    assert (opened["case_no"], opened["channel"]) == ("TS-20261122-0001", None)
    assert failed["message"] == "delivery 4 failed"
    assert failed["error"] == "ConnectionError: SMTP said no to <address> via ***"
    assert "123:secret" not in text and "mallory@" not in text and "Traceback" not in text
