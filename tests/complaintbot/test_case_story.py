"""`complaintbot cases show`: the full story of one case, as a regulator's spot check asks."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.router import ComplaintBot
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_followup import make_bot, resolve, timings
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.complaintbot.test_cli import complaintbot
from tests.support.chat import AgentsGroup, Chat
from tests.support.clock import FakeClock
from tests.support.referrals import refer

BILL = b"\x89PNG bill of November"


async def test_the_full_story_of_a_case(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    # The CLI judges deadlines against the real time: this case is a month old.
    clock.current = datetime.now(UTC) - timedelta(days=30)
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    await alice.send_file("bill.png", BILL, "image/png", caption="My bill")
    await alice.say("They charged me on the 3rd")
    first = alice.last_message_id
    await alice.edit(first, "They charged me on the 5th")
    await alice.edit(first, "They charged me on the 5th and the 6th")

    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "TIMEZONE": "UTC"}
    shown = complaintbot(["cases", "show", case_no, "--json"], tmp_path, env)
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)

    (bill,) = case["evidence"]
    assert bill["name"] == "bill.png" and bill["file"] == "ok"
    assert bill["sha256"] == hashlib.sha256(BILL).hexdigest()
    assert bill["received_at"].endswith("+00:00")

    edited = [m for m in case["messages"] if m["edited"]]
    assert [[v["text"] for v in m["versions"]] for m in edited] == [
        [
            "They charged me on the 3rd",
            "They charged me on the 5th",
            "They charged me on the 5th and the 6th",
        ]
    ]
    assert edited[0]["direction"] == "in"

    receipt, deadline, resolution = case["deadlines"]
    assert [d["name"] for d in case["deadlines"]] == ["receipt", "first_response", "resolution"]
    assert receipt["outcome"] == "met" and receipt["done_at"] == case["receipt_sent_at"]
    assert (deadline["due_at"], deadline["done_at"], deadline["outcome"]) == (
        case["response_due_at"],
        None,
        "missed",
    )
    assert (resolution["done_at"], resolution["outcome"]) == (None, "missed")

    kinds = [e["event"] for e in case["timeline"]]
    assert kinds.count("complainant_message_edited") == 2
    assert all(len(e["hash"]) == 64 and e["event_id"] for e in case["timeline"])
    received = case["timeline"][0]
    assert (received["event"], received["actor_name"]) == ("received", "Alice Wang")

    readable = complaintbot(["cases", "show", case_no], tmp_path, {**env, "DEFAULT_LOCALE": "en"})
    out = readable.stdout
    assert f"sha256:{bill['sha256']}" in out and "file present, checksum matches" in out
    assert "First response: due " in out and ": missed" in out
    assert "Alice Wang (complainant:1)  complainant_message_edited" in out
    assert "      after: They charged me on the 5th and the 6th" in out
    assert "Edited messages:" in out
    assert "    v3  " in out and out.index("on the 3rd") < out.index("on the 5th and the 6th")

    # A file lost from the data directory shows as such.
    (tmp_path / "data" / bill_path(bill["sha256"])).unlink()
    again = complaintbot(["cases", "show", case_no], tmp_path, {**env, "DEFAULT_LOCALE": "en"})
    assert "file missing" in again.stdout


def bill_path(sha256: str) -> Path:
    return Path("evidence") / sha256[:2] / sha256


async def test_a_response_in_time_is_met(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    clock.current = datetime.now(UTC)
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}
    replied = complaintbot(["cases", "reply", case_no, "Checking", "--agent", "Li"], tmp_path, env)
    assert replied.returncode == 0, replied.stderr
    clock.current = datetime.now(UTC)
    await alice.deliver_pending()
    case = json.loads(complaintbot(["cases", "show", case_no, "--json"], tmp_path, env).stdout)
    assert [(d["name"], d["outcome"]) for d in case["deadlines"]] == [
        ("receipt", "met"),
        ("first_response", "met"),
        ("resolution", "pending"),
    ]
    assert case["deadlines"][1]["done_at"] == case["first_response_at"] is not None
    assert case["referrals"] == []  # never referred to a partner


async def test_a_rated_case_shows_its_latest_score(
    repository: SqlRepository,
    outbox: SqlOutbox,
    clock: FakeClock,
    database_url: str,
    tmp_path: Path,
) -> None:
    bot = make_bot(repository, clock, timings(tmp_path))
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    group = AgentsGroup(alice)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}

    def shown() -> dict[str, object]:
        result = complaintbot(["cases", "show", case_no, "--json"], tmp_path, env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    # A low score reopens the case; the next resolution asks again and is rated 5.
    for label, status in (("2 dissatisfied", "reopened"), ("5 very satisfied", "archived")):
        await resolve(group, case_no)
        clock.advance(minutes=11)
        await bot.sweep()
        await alice.deliver_pending()
        assert shown()["satisfaction"] is None  # asked, not answered yet
        await alice.press(label)
        case = shown()
        assert (case["status"], case["satisfaction"]) == (status, int(label[0]))


async def test_referrals_show_each_partner_and_how_its_wait_ended(
    bot: ComplaintBot,
    outbox: SqlOutbox,
    clock: FakeClock,
    engine: AsyncEngine,
    database_url: str,
    tmp_path: Path,
) -> None:
    # The CLI judges the partners' deadlines against the real time: the case is ten days old.
    now = datetime.now(UTC).replace(microsecond=0)
    clock.current = now - timedelta(days=10)
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}

    def referrals() -> list[dict[str, object]]:
        shown = complaintbot(
            ["cases", "show", case_no, "--json"], tmp_path, {**env, "TIMEZONE": "Asia/Shanghai"}
        )
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)["referrals"]  # type: ignore[no-any-return]

    assert referrals() == []
    asked = now - timedelta(days=9)
    # Stored out of order: the document lists them by when they were asked.
    await refer(engine, case_no, "chinanet", asked + timedelta(hours=3), now + timedelta(days=2))
    await refer(
        engine,
        case_no,
        "alipay",
        asked,
        asked + timedelta(days=2),
        answered_at=asked + timedelta(days=2),  # on the deadline itself: in time
    )
    await refer(
        engine,
        case_no,
        "chinanet",
        asked + timedelta(hours=1),
        asked + timedelta(days=1),
        answered_at=asked + timedelta(days=3),
    )
    await refer(engine, case_no, "alipay", asked + timedelta(hours=2), asked + timedelta(days=3))

    def local(moment: datetime) -> str:
        return moment.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()

    assert referrals() == [
        {
            "partner": "alipay",
            "asked_at": local(asked),
            "due_at": local(asked + timedelta(days=2)),
            "answered_at": local(asked + timedelta(days=2)),
            "outcome": "answered",
        },
        {
            "partner": "chinanet",
            "asked_at": local(asked + timedelta(hours=1)),
            "due_at": local(asked + timedelta(days=1)),
            "answered_at": local(asked + timedelta(days=3)),
            "outcome": "answered_late",
        },
        {
            "partner": "alipay",
            "asked_at": local(asked + timedelta(hours=2)),
            "due_at": local(asked + timedelta(days=3)),
            "answered_at": None,
            "outcome": "missed",
        },
        {
            "partner": "chinanet",
            "asked_at": local(asked + timedelta(hours=3)),
            "due_at": local(now + timedelta(days=2)),
            "answered_at": None,
            "outcome": "pending",
        },
    ]
    assert str(referrals()[0]["asked_at"]).endswith("+08:00")
