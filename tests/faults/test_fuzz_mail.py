"""Property: hostile mail never breaks the mail reader, names no false sender, saves no
file under a dangerous name, and the bot's answers go only to real addresses.

Random, often malformed MIME (see `tests.faults.strategies.any_mail`: bogus charsets,
deep nesting, broken boundaries, invalid base64 and quoted-printable, header injection
with CR, LF and NUL, huge headers, odd file names, raw garbage) goes through
`parse_mail` and `mail_to_inbound`, then through the bot (on the memory backend) and
out through the real dispatcher into `compose`, the function that writes the mails the
SMTP sender sends.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from bot.messages import Inbound, Outbound
from bot.router import BotConfig, ComplaintBot
from bot.staff import DeskConfig
from channels.email import CHANNEL
from channels.email.compose import compose
from channels.email.inbound import mail_to_inbound
from channels.email.mime import parse_mail
from delivery.dispatcher import Dispatcher
from delivery.sending import Sent
from tests.faults.fuzzing import cheap
from tests.faults.strategies import (
    CHARSETS,
    CODEC_NAMES,
    FILE_NAMES,
    any_mail,
    deep_mail,
    hostile_text,
)
from tests.support.clock import FakeClock
from tests.support.memory import MemoryOutbox, MemoryRepository, MemoryStore

RECEIVED = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
# What an address that mail can be sent to looks like: one local part, one domain,
# nothing that could end a header line or hide in one.
_ADDRESS = re.compile(r"^[^@\s<>,;\"\\\x00-\x1f\x7f]+@[^@\s<>,;\"\\\x00-\x1f\x7f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The conversation of a mail that has no usable sender (see channels/email/inbound.py).
_NO_SENDER = {"unknown", "unparsed"}


def assert_safe_file_name(name: str) -> None:
    assert name, "an attachment without a name"
    assert "/" not in name and "\\" not in name, f"a path in a file name: {name!r}"
    assert name not in (".", ".."), f"a directory as a file name: {name!r}"
    assert not _CONTROL.search(name), f"a control character in a file name: {name!r}"


def unstorable(inbound: Inbound) -> list[str]:
    """The fields of `inbound` that no database stores as text: lone surrogates (bytes
    that were never decoded) or NUL (PostgreSQL refuses it)."""
    fields: dict[str, Any] = {
        "sender_id": inbound.sender_id,
        "sender_name": inbound.sender_name,
        "subject": inbound.subject,
        "text": inbound.text,
        "message_id": inbound.message_id or "",
        "raw": json.dumps(inbound.raw, ensure_ascii=False),
        **{f"file {n}": a.name for n, a in enumerate(inbound.attachments)},
    }
    found = []
    for name, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            found.append(f"{name}: undecoded bytes in {value[:200]!r}")
        if "\x00" in value or "\\u0000" in value:
            found.append(f"{name}: NUL in {value[:200]!r}")
    return found


def assert_sender_is_clean(sender: str) -> None:
    assert not _CONTROL.search(sender), f"a control character in the sender: {sender!r}"
    assert sender == sender.strip(), f"white space around the sender: {sender!r}"
    # White space only inside a quoted local part ("a b"@example.com is an address).
    assert " " not in re.sub(r'^".*"@', "", sender), f"a space in the sender: {sender!r}"


@cheap()
@given(any_mail())
@example(
    b"To: desk@example.com\r\nContent-Type: text/rfc822-headers; charset=punycode\r\n"
    b"\r\n\xe2\x80\x8b"
)
def test_the_mail_reader_reads_anything(raw: bytes) -> None:
    """`parse_mail` never raises; what it reads holds no injected header."""
    mail = parse_mail(raw)
    if mail.from_address:
        assert_sender_is_clean(mail.from_address)
    assert "\r" not in mail.from_name and "\n" not in mail.from_name
    assert "\r" not in mail.subject and "\n" not in mail.subject
    for file in mail.files:
        assert_safe_file_name(file.name)


@cheap()
@given(any_mail())
def test_every_mail_arrives_with_a_clean_sender_and_safe_file_names(raw: bytes) -> None:
    inbound = mail_to_inbound(raw, RECEIVED)
    assert inbound.attachments[0].data == raw, "the original is not kept as it came"
    assert_sender_is_clean(inbound.sender_id)
    assert inbound.conversation == inbound.sender_id
    assert "\x00" not in inbound.text and "\x00" not in inbound.subject
    for attachment in inbound.attachments[1:]:
        assert_safe_file_name(attachment.name)


_ADDRESSES = ["li@example.com", "Li.Ming+x@mail.example.cn", "do-not-reply@ncs.gov.ng"]
# Display names that look like addresses or carry headers: none of it is the sender.
_DISPLAY = st.one_of(
    st.sampled_from(
        ["purchasing@aquillaindustries.com", "Mal\rBcc: victim@example.org", "a@b.c, d@e.f",
         "Mal\x00", "=?utf-8?q?x=0D=0ABcc:_victim@example.org?=", "victim@example.org\r"]
    ),
    hostile_text(4).filter(lambda t: not set(t) & set('<>"\\\n')),
)


@given(_DISPLAY, st.sampled_from(_ADDRESSES), st.booleans())
@example("Mal\rBcc: victim@example.org", "mal@example.com", True)
@example("purchasing@aquillaindustries.com", "do-not-reply@ncs.gov.ng", False)
def test_the_sender_is_the_address_in_angle_brackets(
    display: str, address: str, quoted: bool
) -> None:
    name = f'"{display}"' if quoted else display
    raw = f"From: {name} <{address}>\r\nSubject: x\r\n\r\ncharged twice\r\n"
    mail = parse_mail(raw.encode("utf-8"))
    assert mail.from_address in (address.lower(), ""), (
        f"sender {mail.from_address!r} from a display name {display!r}"
    )


def test_deeply_nested_mail_is_read_or_kept_whole() -> None:
    """Deep nesting the generators above reach only at random: 500 levels are read; at
    5,000 the standard library's parser runs out of stack, and the mail is still filed,
    whole, by the documented fallback (no sender, never answered)."""
    assert mail_to_inbound(deep_mail(500), RECEIVED).sender_id == "li@example.com"
    raw = deep_mail(5000)
    inbound = mail_to_inbound(raw, RECEIVED)
    assert inbound.attachments[0].data == raw
    assert inbound.sender_id in ("li@example.com", "unparsed")
    assert inbound.automated if inbound.sender_id == "unparsed" else True


@given(st.sampled_from(FILE_NAMES), st.sampled_from(["quoted", "2231", "type"]))
def test_no_attachment_name_is_a_path(name: str, form: str) -> None:
    if form == "2231":
        value = "".join(f"%{b:02X}" for b in name.encode())
        header = f"Content-Disposition: attachment; filename*=utf-8''{value}"
    elif form == "quoted":
        header = f'Content-Disposition: attachment; filename="{name}"'
    else:
        header = f'Content-Type: application/octet-stream; name="{name}"'
    raw = (
        'From: li@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\ncharged twice\r\n"
        f"--b\r\n{header}\r\nContent-Type: application/octet-stream\r\n\r\nDATA\r\n--b--\r\n"
    )
    inbound = mail_to_inbound(raw.encode("utf-8", "surrogateescape"), RECEIVED)
    for attachment in inbound.attachments[1:]:
        assert_safe_file_name(attachment.name)


class ComposingSender:
    """The SMTP sender's first half: each outbound mail is composed and serialised."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[Outbound] = []
        self.errors: list[str] = []

    async def send(self, outbound: Outbound) -> Sent:
        try:
            compose(outbound, "Complaints <desk@example.com>", self.clock.now()).as_bytes()
        except Exception as error:
            self.errors.append(f"{error!r} composing {outbound!r}"[:500])
            raise
        self.sent.append(outbound)
        return Sent((str(len(self.sent)),), None)


async def _file_and_answer(
    inbounds: list[Inbound],
) -> tuple[MemoryStore, list[Outbound]]:
    clock = FakeClock()
    store = MemoryStore()
    desk = DeskConfig(channel=CHANNEL, conversation="agents@example.com")
    bot = ComplaintBot(MemoryRepository(clock, store), BotConfig(desk=desk), clock)
    sender = ComposingSender(clock)
    failures: list[str] = []

    async def failed(_delivery: Any, error: str) -> None:
        failures.append(error)

    dispatcher = Dispatcher(MemoryOutbox(store), {CHANNEL: sender}, clock, on_failure=failed)
    for inbound in inbounds:
        clock.advance(seconds=61)
        await bot.handle(replace(inbound, received_at=clock.now()))
        while await dispatcher.run_once():
            pass
    assert sender.errors == []
    assert failures == []
    return store, sender.sent


@given(st.lists(any_mail(), min_size=1, max_size=4))
def test_hostile_mail_is_filed_and_answered_only_at_real_addresses(mails: list[bytes]) -> None:
    inbounds = [mail_to_inbound(raw, RECEIVED) for raw in mails]
    store, sent = asyncio.run(_file_and_answer(inbounds))
    stored = {m.transport_id for m in store.tables.messages if m.direction == "in"}
    for inbound in inbounds:
        assert inbound.transport_id in stored, "a mail was not stored"
    for outbound in sent:
        if outbound.conversation == "agents@example.com":
            continue
        assert outbound.conversation not in _NO_SENDER, "a mail to no one"
        assert _ADDRESS.match(outbound.conversation), f"mail sent to {outbound.conversation!r}"
        assert outbound.conversation in {i.sender_id for i in inbounds}


@cheap()
@given(any_mail())
@example(b"From: \xe2\x80\x8b\r\nSubject: x\r\n\r\nhi\r\n")
@example(b"From: Li <l\xffi@example.com>\r\nSubject: x\r\n\r\nhi\r\n")
def test_every_field_of_a_mail_can_be_stored(raw: bytes) -> None:
    """What the bot stores of a mail is text a database takes: a mail with raw 8-bit
    bytes in its From must not leave them undecoded (lone surrogates), or the store
    refuses the whole mail and it is lost."""
    assert unstorable(mail_to_inbound(raw, RECEIVED)) == []


def _from_header(raw: bytes) -> str:
    """The raw From line(s) of the top header section, with any folded lines; empty when
    there is none. A bare CR ends no line, nor does a lone LF where most lines end in
    CRLF: those are smuggled (see `channels.email.mime.clean_header_block`)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0].decode("utf-8", "replace")
    crlf = head.count("\r\n")
    crlf_only = crlf and crlf >= head.count("\n") - crlf
    lines = re.split(r"\r\n" if crlf_only else r"\r\n|\n", head)
    for number, line in enumerate(lines):
        if line.lower().startswith("from:"):
            folded = [line]
            for more in lines[number + 1 :]:
                if more[:1] not in (" ", "\t"):
                    break
                folded.append(more)
            return " ".join(folded)[5:]
    return ""


@cheap()
@given(any_mail())
@example(b"From: \nTo: desk@example.com\nSubject: \nMIME-Version: 1.0\r\n\r\nhi")
@example(b'From: "Mal\nBcc: victim@example.org" <mal@example.com>\r\nTo: a@b.c\r\n\r\nhi')
def test_the_sender_comes_from_the_from_header(raw: bytes) -> None:
    """The complainant's address is text of the From header, never of another header
    (a receipt to an address from To or Cc is mail to a third party)."""
    mail = parse_mail(raw)
    if mail.from_address:
        assert mail.from_address in "".join(_from_header(raw).lower().split()), (
            f"sender {mail.from_address!r}, From: {_from_header(raw)!r}"
        )


@given(st.sampled_from(CHARSETS + CODEC_NAMES), st.binary(max_size=40), st.booleans())
@example("rot13", b"hi", True)
@example("punycode", b"a b", False)
def test_any_declared_charset_is_read(charset: str, body: bytes, plain: bool) -> None:
    """Whatever a part says its charset is, the mail is read and its sender kept."""
    if plain:
        part = f"Content-Type: text/plain; charset={charset}\r\n\r\n".encode() + body
    else:
        part = (
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            + f"Content-Type: text/html; charset={charset}\r\n\r\n".encode()
            + body
            + b"\r\n--b--\r\n"
        )
    raw = b"From: li@example.com\r\nSubject: =?" + charset.encode() + b"?q?x?=\r\n" + part
    parse_mail(raw)
    assert mail_to_inbound(raw, RECEIVED).sender_id == "li@example.com"
