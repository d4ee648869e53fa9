"""The IMAP poller against a real dovecot: IDLE, marking, the cursor, drops and restarts."""

from __future__ import annotations

import asyncio
import base64
import imaplib
import quopri
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.message import Message as MimePart
from pathlib import Path

import aioimaplib
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.messages import Attachment, Inbound
from bot.router import ComplaintBot
from channels.email.fetching import MARK_HEADER, MailFetcher, _Decoder, parse_bodystructure
from channels.email.imap import ImapConfig, ImapPoller
from channels.email.inbound import mail_to_inbound
from storage.mail_cursors import SqlLeadership, SqlMailCursors
from storage.models import Case, Message
from tests.channels import mail_corpus as corpus
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.waiting import eventually

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def config(dovecot: Dovecot, **changes: object) -> ImapConfig:
    settings: dict[str, object] = {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        # Long enough that only IDLE explains mail handled within seconds.
        "poll_seconds": 120.0,
        "first_backoff": 0.2,
        "max_backoff": 1.0,
        "timeout": 5.0,
        **changes,
    }
    return ImapConfig(**settings)  # type: ignore[arg-type]


@asynccontextmanager
async def polling(
    dovecot: Dovecot,
    engine: AsyncEngine,
    handle: Callable[[Inbound], Awaitable[object]],
    **changes: object,
) -> AsyncIterator[ImapPoller]:
    poller = ImapPoller(config(dovecot, **changes), handle, SqlMailCursors(engine))
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(poller.connected.wait(), 10)
        yield poller
    finally:
        poller.stop()
        await asyncio.wait_for(task, 15)


async def count(engine: AsyncEngine, model: type, *where: object) -> int:
    async with AsyncSession(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_new_mail_is_filed_within_seconds_and_marked_after_the_commit(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    async with polling(dovecot, engine, bot.handle_safely):
        dovecot.append(corpus.gbk_complaint(message_id="<idle@example.cn>"))
        await eventually(lambda: count(engine, Case), within=10)
        await eventually(lambda: _seen(dovecot, 1), within=5)
    assert await count(engine, Message, Message.transport_id == "<idle@example.cn>") == 1


async def test_a_complaint_was_received_when_it_arrived_in_the_mailbox(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    arrived = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)  # while the bot was down
    dovecot.append(corpus.big5_complaint(message_id="<early@example.tw>"), arrived=arrived)
    async with polling(dovecot, engine, bot.handle_safely):
        await eventually(lambda: count(engine, Case), within=10)
    async with AsyncSession(engine) as session:
        assert await session.scalar(select(Case.received_at)) == arrived


async def test_processed_mail_can_be_moved_to_a_folder(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    async with polling(dovecot, engine, bot.handle_safely, processed_folder="Filed"):
        dovecot.append(corpus.big5_complaint(message_id="<move@example.tw>"))
        await eventually(lambda: _count_in(dovecot, "Filed", 1), within=10)
    assert dovecot.flags("INBOX") == []
    assert await count(engine, Case) == 1


async def test_a_drop_after_the_commit_and_a_server_restart_lose_nothing_and_file_once(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    for number in range(3):
        dovecot.append(
            corpus.big5_complaint(message_id=f"<drop-{number}@example.tw>", month=f"{number + 1}月")
        )
    seen: list[str] = []

    async def handle_then_crash_once(inbound: Inbound) -> None:
        await bot.handle_safely(inbound)
        seen.append(inbound.transport_id)
        if len(seen) == 1:
            # Committed, not yet marked on the server: the server goes away.
            await asyncio.to_thread(dovecot.restart)

    async def all_filed_and_marked() -> bool:
        return await count(engine, Case) == 3 and await _seen(dovecot, 3)

    async with polling(dovecot, engine, handle_then_crash_once):
        await eventually(all_filed_and_marked, within=30)
    assert seen[0] == seen[1] == "<drop-0@example.tw>"  # fetched again after the restart
    assert sorted(set(seen)) == [f"<drop-{n}@example.tw>" for n in range(3)]
    assert await count(engine, Case) == 3


async def test_the_cursor_survives_a_restart_of_the_poller(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    handled: list[str] = []

    async def handle(inbound: Inbound) -> None:
        handled.append(inbound.transport_id)
        await bot.handle_safely(inbound)

    dovecot.append(corpus.big5_complaint(message_id="<c1@example.tw>"))
    async with polling(dovecot, engine, handle):
        await eventually(lambda: _seen(dovecot, 1), within=10)
    _mark_all_unseen(dovecot)  # someone reads the mailbox by hand and marks it unread
    async with polling(dovecot, engine, handle):
        dovecot.append(corpus.big5_complaint(message_id="<c2@example.tw>"))
        await eventually(lambda: _handled(handled, 2), within=10)
    assert handled == ["<c1@example.tw>", "<c2@example.tw>"]


async def test_a_changed_uidvalidity_starts_over_from_the_unseen_mail(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    # A cursor from before the mailbox was rebuilt: its UIDs mean nothing any more.
    await SqlMailCursors(engine).save(config(dovecot).account, 1, 999)
    dovecot.append(corpus.big5_complaint(message_id="<rebuilt@example.tw>"))
    async with polling(dovecot, engine, bot.handle_safely):
        await eventually(lambda: count(engine, Case), within=10)
    cursor = await SqlMailCursors(engine).load(config(dovecot).account)
    assert cursor is not None and cursor[0] != 1 and cursor[1] < 999


@pytest.fixture
def strict_dovecot() -> Iterator[Dovecot]:
    """A server of its own: failed logins make dovecot slow down for that address."""
    server = Dovecot.in_temp_dir("auth_failure_delay = 0")
    server.start()
    try:
        yield server
    finally:
        server.remove()


class MemoryCursors:
    def __init__(self) -> None:
        self.saved: dict[str, tuple[int, int]] = {}

    async def load(self, account: str) -> tuple[int, int] | None:
        return self.saved.get(account)

    async def save(self, account: str, uidvalidity: int, last_uid: int) -> None:
        self.saved[account] = (uidvalidity, last_uid)


async def test_a_refused_login_is_said_plainly_and_tried_again(
    strict_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    async def never(inbound: Inbound) -> None:
        raise AssertionError(f"nothing can be read without logging in: {inbound}")

    poller = ImapPoller(config(strict_dovecot, password="wrong-password"), never, MemoryCursors())
    task = asyncio.create_task(poller.run())
    try:
        await eventually(lambda: _logged(caplog, "login refused", 1), within=10)
        await eventually(lambda: _logged(caplog, "again in", 2), within=10)
    finally:
        poller.stop()
        await asyncio.wait_for(task, 10)
    assert "check IMAP_USERNAME and IMAP_PASSWORD" in caplog.text
    assert "wrong-password" not in caplog.text
    assert not poller.connected.is_set()


async def _logged(caplog: pytest.LogCaptureFixture, fragment: str, times: int) -> bool:
    return sum(fragment in r.getMessage() for r in caplog.records) >= times


async def test_after_a_restart_of_the_server_the_poller_comes_back_by_itself(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    async with polling(dovecot, engine, bot.handle_safely) as poller:
        await asyncio.to_thread(dovecot.restart)  # while the poller waits in IDLE
        await eventually(lambda: _is_set(poller.connected), within=10)
        dovecot.append(corpus.big5_complaint(message_id="<after-restart@example.tw>"))
        await eventually(lambda: count(engine, Case), within=10)


@pytest.fixture(scope="module")
def idle_less_dovecot() -> Iterator[Dovecot]:
    server = Dovecot.in_temp_dir("imap_capability = IMAP4rev1 LITERAL+ UIDPLUS MOVE")
    server.start()
    try:
        yield server
    finally:
        server.remove()


async def test_a_server_without_idle_is_polled(
    idle_less_dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot
) -> None:
    idle_less_dovecot.clear()
    async with polling(idle_less_dovecot, engine, bot.handle_safely, poll_seconds=1.0):
        idle_less_dovecot.append(corpus.big5_complaint(message_id="<polled@example.tw>"))
        await eventually(lambda: count(engine, Case), within=10)
        await eventually(lambda: _seen(idle_less_dovecot, 1), within=5)


async def test_on_postgresql_one_worker_reads_a_mailbox_and_another_takes_over(
    dovecot: Dovecot, engine: AsyncEngine, bot: ComplaintBot, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share a mailbox only on PostgreSQL")
    handled: dict[str, list[str]] = {"a": [], "b": []}

    def worker(name: str) -> ImapPoller:
        async def handle(inbound: Inbound) -> None:
            handled[name].append(inbound.transport_id)
            await bot.handle_safely(inbound)

        return ImapPoller(
            config(dovecot, poll_seconds=1.0),
            handle,
            SqlMailCursors(engine),
            leadership=SqlLeadership(engine),
        )

    workers = {"a": worker("a"), "b": worker("b")}
    tasks = {name: asyncio.create_task(w.run()) for name, w in workers.items()}
    try:
        await eventually(lambda: _any_connected(list(workers.values())), within=10)
        leader = next(name for name, w in workers.items() if w.connected.is_set())
        follower = "b" if leader == "a" else "a"
        dovecot.append(corpus.big5_complaint(message_id="<lead-1@example.tw>"))
        await eventually(lambda: count(engine, Case), within=10)
        workers[leader].stop()
        await asyncio.wait_for(tasks[leader], 10)
        await eventually(lambda: _is_set(workers[follower].connected), within=10)
        dovecot.append(corpus.big5_complaint(message_id="<lead-2@example.tw>", month="2月"))
        await eventually(lambda: _handled(handled[follower], 1), within=10)
    finally:
        for name, w in workers.items():
            w.stop()
            await asyncio.wait_for(tasks[name], 10)
    assert handled[leader] == ["<lead-1@example.tw>"]
    assert handled[follower] == ["<lead-2@example.tw>"]
    assert await count(engine, Case) == 2


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[Dovecot]:
    server = Dovecot.in_temp_dir(tls=True)
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_mail_is_read_over_tls(
    tls_dovecot: Dovecot,
    engine: AsyncEngine,
    bot: ComplaintBot,
    security: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test server's certificate is the one trusted authority, as a company's own
    # CA would be on its machines.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_dovecot.certificate))
    tls_dovecot.clear()
    port = tls_dovecot.tls_port if security == "ssl" else tls_dovecot.port
    async with polling(tls_dovecot, engine, bot.handle_safely, security=security, port=port):
        tls_dovecot.append(corpus.big5_complaint(message_id=f"<{security}@example.tw>"))
        await eventually(lambda: count(engine, Case), within=10)
    logins = [
        line
        for line in tls_dovecot.log().splitlines()
        if "Login:" in line and f"port={port}," in line
    ]
    assert logins and all(line.endswith("TLS") for line in logins), logins


async def _any_connected(pollers: list[ImapPoller]) -> bool:
    return any(p.connected.is_set() for p in pollers)


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def _seen(dovecot: Dovecot, how_many: int) -> bool:
    flags = await _flags(dovecot, "INBOX")
    return sum("\\Seen" in f for f in flags) >= how_many


async def _count_in(dovecot: Dovecot, mailbox: str, how_many: int) -> bool:
    return len(await _flags(dovecot, mailbox)) >= how_many


async def _flags(dovecot: Dovecot, mailbox: str) -> list[set[str]]:
    """The mailbox's flags; none while the server restarts or the mailbox is missing."""
    try:
        return await asyncio.to_thread(dovecot.flags, mailbox)
    except (OSError, imaplib.IMAP4.error):
        return []


async def _handled(handled: list[str], how_many: int) -> bool:
    return len(handled) >= how_many


def _mark_all_unseen(dovecot: Dovecot) -> None:
    client = dovecot.client()
    try:
        client.select("INBOX")
        client.store("1:*", "-FLAGS", "(\\Seen)")
    finally:
        client.logout()


# ----- fetching by structure ------------------------------------------------------------------

CORPUS = [
    corpus.gbk_complaint,
    corpus.big5_complaint,
    corpus.iso2022jp_complaint,
    corpus.utf8_rfc2231_complaint,
    corpus.gb2312_rfc2231_name,
    corpus.html_only,
    corpus.inline_image,
    # Not broken_mime: its text is outside any part, which only the original keeps.
    corpus.raw_8bit_headers,
    corpus.mailing_list,
    corpus.injected_from,  # (dovecot stores injected_subject's NUL as 0x80: not the same)
    lambda: corpus.bounce(original_id="<r@corp.example>", recipient="wang@example.cn"),
    lambda: corpus.with_attachment(5000),
    lambda: corpus.with_attachment(1_500_000),  # fetched to disk by the rebuild
    lambda: corpus.outlook_reply(
        "好的", sender="wang@example.cn", subject="Re: x", message_id="<o@example.cn>"
    ),
]


async def test_a_mail_fetched_part_by_part_reads_as_the_mail_itself(dovecot: Dovecot) -> None:
    """Every corpus mail through BODYSTRUCTURE, the spool and the rebuilt sections (what
    the poller does with a mail over the attachment limit) gives the bot what the whole
    mail gives it; `message.eml` is the mail byte for byte."""
    for build in CORPUS:
        dovecot.append(build())
    imap = aioimaplib.IMAP4(host="127.0.0.1", port=dovecot.port, timeout=10)
    await imap.wait_hello_from_server()
    await imap.login(USER, PASSWORD)
    await imap.select("INBOX")
    found = await imap.uid_search("ALL", charset=None)
    uids = sorted(int(token) for token in found.lines[0].split())
    try:
        for uid, build in zip(uids, CORPUS, strict=True):
            # As stored: imaplib's APPEND makes every line ending CRLF (a bare CR too).
            raw = re.sub(rb"\r\n|\r|\n", b"\r\n", build())
            whole = mail_to_inbound(raw, NOW)
            response = await imap.uid("fetch", str(uid), "(BODYSTRUCTURE)")
            fetcher = MailFetcher(imap, _direct, 20 << 20)
            spooled = await fetcher.spool(uid)
            try:
                assert spooled.path.read_bytes() == raw
            finally:
                spooled.path.unlink()
            structure = parse_bodystructure(response.lines)
            rebuilt = raw if structure is None else await fetcher.rebuild(uid, structure)
            parts = mail_to_inbound(rebuilt, NOW, mark_header=MARK_HEADER)
            assert (parts.sender_id, parts.subject, parts.text) == (
                whole.sender_id,
                whole.subject,
                whole.text,
            ), build
            assert [(a.name, _content(a)) for a in parts.attachments[1:]] == [
                (a.name, a.data) for a in whole.attachments[1:]
            ], build
            for path in fetcher.files:
                path.unlink()
            assert (parts.automated, parts.references) == (whole.automated, whole.references)
    finally:
        await imap.logout()


def _content(attachment: Attachment) -> bytes | None:
    """A file's bytes, in memory or on disk."""
    return Path(attachment.path).read_bytes() if attachment.path else attachment.data


async def _direct(command: Awaitable[aioimaplib.Response]) -> aioimaplib.Response:
    return await command


def test_a_structure_with_literals_and_nesting_is_read() -> None:
    """dovecot sends a name with 8-bit or quoted characters as a literal."""
    lines = [
        b'1 FETCH (UID 1 BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL "7bit" '
        b'2 0 NIL NIL NIL NIL)("text" "html" NIL NIL NIL "base64" 8 1 NIL NIL NIL NIL) '
        b'"alternative" ("boundary" "in") NIL NIL NIL)("application" "pdf" ("name" {15}',
        bytearray('报告 "q" .pdf'.encode()),
        b') NIL NIL "base64" 4000 NIL ("attachment" ("filename" "x")) NIL NIL) "mixed" '
        b'("boundary" "out") NIL NIL NIL))',
        b"Fetch completed.",
    ]
    structure = parse_bodystructure(lines)
    assert structure is not None
    assert (structure.mime, structure.params) == ("multipart/mixed", {"boundary": "out"})
    inner, pdf = structure.children
    assert (inner.mime, inner.params["boundary"]) == ("multipart/alternative", "in")
    assert [c.mime for c in inner.children] == ["text/plain", "text/html"]
    assert (pdf.mime, pdf.params["name"], pdf.encoding, pdf.size) == (
        "application/pdf",
        '报告 "q" .pdf',
        "base64",
        4000,
    )
    assert pdf.decoded_size == 4000 * 57 // 78
    assert parse_bodystructure([b"1 FETCH (UID 1)", b"done"]) is None


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable", "8bit"])
def test_a_part_decoded_chunk_by_chunk_is_what_the_email_package_decodes(encoding: str) -> None:
    data = corpus.attachment_bytes(70_001) + "退款 = refund\r\n".encode() * 500
    encoded = {
        "base64": base64.encodebytes(data).replace(b"\n", b"\r\n") + b"!*garbage",
        "quoted-printable": quopri.encodestring(data),
        "8bit": data,
    }[encoding]
    part = MimePart()
    part["Content-Transfer-Encoding"] = encoding
    part.set_payload(encoded.decode("latin-1"))
    expected = part.get_payload(decode=True)
    decoder = _Decoder(encoding)
    pieces = [encoded[i : i + 4093] for i in range(0, len(encoded), 4093)]
    decoded = b"".join(decoder.feed(p, i == len(pieces) - 1) for i, p in enumerate(pieces))
    assert decoded == expected
