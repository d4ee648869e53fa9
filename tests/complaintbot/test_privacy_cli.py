"""`complaintbot privacy export|erase --contact …`: a person's data on request (PIPL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from storage.models import Case, Complainant, Evidence, Identity, Message, OutboxItem
from storage.outbox import SqlOutbox
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.complaintbot.test_cli import complaintbot
from tests.support.chat import Chat, texts
from tests.support.clock import FakeClock

BILL = b"\x89PNG the bill of Alice"
SHARED = b"\x89PNG a screenshot both sent"


async def test_export_then_erase_keeps_the_case_and_the_chain(
    bot: ComplaintBot,
    outbox: SqlOutbox,
    clock: FakeClock,
    engine: AsyncEngine,
    database_url: str,
    tmp_path: Path,
) -> None:
    alice = Chat(bot, outbox, clock)
    await alice.say("/help")
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    await alice.send_file("alice-bill.png", BILL, "image/png")
    await alice.send_file("shot.png", SHARED, "image/png")
    await alice.say("My account is 8801-2233")
    # Bob files too, with one file identical to one of Alice's.
    bob = Chat(bot, outbox, clock, user="2002")
    bob_script = [
        (a, v.replace("Alice Wang", "Bob Li").replace("alice@", "bob@"), e)
        for a, v, e in ENGLISH_INTAKE
    ]
    bob_script[5] = ("say", "13912345678 bob@example.com", "It sounds like")
    bob_receipt = await play(bob, bob_script)
    bob_case = re.search(r"TS-\d{8}-\d{4}", bob_receipt).group(0)  # type: ignore[union-attr]
    await bob.send_file("same.png", SHARED, "image/png")

    data = tmp_path / "data"
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(data), "DEFAULT_LOCALE": "en"}

    exported = complaintbot(["privacy", "export", "--contact", "138 1234 5678"], tmp_path, env)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    (person,) = document["complainants"]
    assert (person["name"], person["phone"], person["email"]) == (
        "Alice Wang",
        "+8613812345678",
        "alice@example.com",
    )
    assert [i["external_id"] for i in document["identities"]] == ["1001"]
    (case,) = document["cases"]
    assert case["case_no"] == case_no
    assert "My account is 8801-2233" in [m["text"] for m in case["messages"]]
    assert {e["name"] for e in case["evidence"]} == {"alice-bill.png", "shot.png"}
    assert [e["kind"] for e in case["timeline"]][:3] == [
        "received",
        "privacy_notice",
        "case_created",
    ]
    assert "/help" in [m["text"] for m in document["other_messages"]]
    by_email = complaintbot(
        ["privacy", "export", "--contact", "Alice@Example.com", "-o", str(tmp_path / "a.json")],
        tmp_path,
        env,
    )
    assert by_email.returncode == 0, by_email.stderr
    assert json.loads((tmp_path / "a.json").read_text())["cases"][0]["case_no"] == case_no

    erased = complaintbot(
        ["privacy", "erase", "--contact", "alice@example.com", "--yes"], tmp_path, env
    )
    assert erased.returncode == 0, erased.stderr
    assert case_no in erased.stdout and bob_case not in erased.stdout

    verified = complaintbot(["audit", "verify"], tmp_path, env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    shown = json.loads(complaintbot(["cases", "show", case_no, "--json"], tmp_path, env).stdout)
    assert shown["complainant"] == {"name": "[erased]", "phone": None, "email": None}
    assert (shown["description"], shown["expectation"]) == ("[erased]", "[erased]")
    assert (shown["status"], shown["category"]) == ("acknowledged", "appeal")
    assert shown["received_at"] is not None and shown["subject"].startswith("Example Telecom")
    assert {e["file"] for e in shown["evidence"]} == {"erased"}
    created = next(e for e in shown["timeline"] if e["event"] == "case_created")
    assert (created["name"], created["phone"], created["category"]) == (
        "[erased]",
        "[erased]",
        "appeal",
    )
    events = [e["event"] for e in shown["timeline"]]
    assert events[-2:] == ["personal_data_exported", "personal_data_erased"]
    assert events.count("personal_data_exported") == 2

    everything = ""
    async with AsyncSession(engine) as session:
        for table in (Complainant, Identity, Message, Evidence, OutboxItem):
            everything += repr((await session.scalars(select(table))).all())
    secrets = ("Alice Wang", "alice@example.com", "+8613812345678", "8801-2233", "alice-bill")
    for secret in secrets:
        assert secret not in everything
    assert "Bob Li" in everything and "same.png" in everything  # Bob's record is untouched
    async with AsyncSession(engine) as session:
        chats = {c.case_no: c.conversation for c in (await session.scalars(select(Case))).all()}
        alice_chat = await session.scalar(select(Message.id).where(Message.conversation == "1001"))
        identities = (await session.scalars(select(Identity.external_id))).all()
    assert chats == {case_no: "[erased]", bob_case: "2002"}
    assert alice_chat is None and identities == ["2002"]
    assert not (data / "evidence" / _shard(BILL)).exists()
    assert (data / "evidence" / _shard(SHARED)).exists()  # Bob's evidence still needs it

    # Writing again, Alice is someone new: nothing links her to the erased record.
    hello = await alice.say("I was charged again")
    assert "Add more if you like" in texts(hello) and case_no not in texts(hello)

    again = complaintbot(["privacy", "export", "--contact", "13812345678"], tmp_path, env)
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "No one with the contact 13812345678 is on record.",
    )


def _shard(data: bytes) -> Path:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    return Path(digest[:2]) / digest


def test_a_contact_that_is_neither_phone_nor_email_gets_one_sentence(tmp_path: Path) -> None:
    run = complaintbot(
        ["privacy", "erase", "--contact", "Alice", "--yes"], tmp_path, {"DEFAULT_LOCALE": "en"}
    )
    assert (run.returncode, run.stderr.strip()) == (
        1,
        "“Alice” is neither a phone number nor an email address.",
    )


def test_erase_asks_first_and_a_no_erases_nothing(tmp_path: Path) -> None:
    run = complaintbot(
        ["privacy", "erase", "--contact", "alice@example.com"],
        tmp_path,
        {"DEFAULT_LOCALE": "en"},
        stdin="n\n",
    )
    assert run.returncode == 1
    assert "Erase the personal data of alice@example.com? This cannot be undone." in run.stdout
    assert run.stderr.strip() == "Nothing was erased."
