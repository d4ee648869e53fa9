"""Random and malformed MIME through the mail reader and the bot (Hypothesis).

Mails are built from hostile pieces: header values with CR, LF, NUL and encoded words
hiding them; From values with addresses in display names, no domain, several
mailboxes; nested multiparts with wrong or missing boundaries, unknown charsets,
broken base64 and quoted-printable, path-traversal file names. Invariants: reading
never raises; the original is kept byte for byte; no header value the bot gets holds
a line break or a NUL; file names are safe; through the bot (in-memory ports) every
mail is stored and nothing is ever sent to an address without a domain.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.letters import answerable
from bot.router import BotConfig, ComplaintBot
from channels.email.inbound import RAW_NAME, mail_to_inbound
from delivery.dispatcher import Dispatcher
from tests.support.chat import RecordingSender
from tests.support.clock import FakeClock
from tests.support.memory import MemoryOutbox, MemoryRepository, MemoryStore

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
FUZZ = settings(
    derandomize=True,
    database=None,
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_nasty = st.sampled_from(["\r", "\n", "\r\n", "\x00", "\t", " ", "\u200b", "\x7f", "<", ">"])
_word = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12
)
_piece = st.one_of(_word, _nasty, st.sampled_from(["@", '"', ",", ":", "Bcc: x@victim.example"]))
text_value = st.lists(_piece, max_size=8).map("".join)


def _encoded(value: str) -> str:
    data = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode()
    return f"=?utf-8?b?{data}?="


header_value = st.one_of(text_value, text_value.map(_encoded))
address = st.one_of(
    st.sampled_from(
        [
            "wang@example.cn",
            "mal",
            "noreply@shop.example",
            "do-not-reply@ncs.gov.ng",
            "a@b@c.example",
            "",
            "x@[127.0.0.1]",
        ]
    ),
    st.from_regex(r"[a-z0-9.+-]{1,10}@[a-z0-9-]{1,10}\.[a-z]{2,3}", fullmatch=True),
)
from_value = st.one_of(
    st.builds(lambda name, a: f"{name} <{a}>", header_value, address),
    st.builds(lambda name, a: f'"{name}" <{a}>', text_value, address),
    st.builds(lambda a, b: f"{a} <{b}>", address, address),
    st.builds(lambda a, b: f"{a}, {b}", address, address),
    address,
    header_value,
)
charset = st.sampled_from(["utf-8", "gb2312", "big5", "x-unknown", "", '"utf-8', "utf-7"])
encoding = st.sampled_from(["7bit", "base64", "quoted-printable", "8bit", "x-uuencode", ""])
file_name = st.sampled_from(
    ["../../etc/passwd", "..\\..\\boot.ini", "a\x00b.png", "", "截图.png", "con", "x" * 300]
)


@st.composite
def body(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth < 2 and draw(st.booleans()):
        boundary = draw(st.sampled_from(["b1", "b2", "", "a b", "--"]))
        declared = draw(st.sampled_from([boundary, boundary, "other"]))
        parts = [draw(body(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report"]))
        inner = b"".join(b"--" + declared.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        close = draw(st.sampled_from([b"--" + declared.encode() + b"--\r\n", b""]))
        head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'
        return head.encode() + inner + close
    mime = draw(st.sampled_from(["text/plain", "text/html", "image/png", "message/rfc822"]))
    name = draw(file_name)
    head = (
        f'Content-Type: {mime}; charset="{draw(charset)}"; name="{name}"\r\n'
        f"Content-Transfer-Encoding: {draw(encoding)}\r\n"
        f'Content-Disposition: {draw(st.sampled_from(["attachment", "inline", ""]))}; '
        f'filename="{name}"\r\n\r\n'
    )
    payload = draw(st.binary(max_size=200)) + draw(text_value).encode("utf-8", "surrogatepass")
    return head.encode("utf-8", "surrogatepass") + payload


@st.composite
def mail(draw: st.DrawFn) -> bytes:
    headers = [
        f"From: {draw(from_value)}",
        f"Subject: {draw(header_value)}",
        f"Message-ID: <{draw(st.integers(0, 10**6))}@fuzz.example>",
        f"Reply-To: {draw(from_value)}",
    ]
    if draw(st.booleans()):
        headers.append(f"In-Reply-To: {draw(header_value)}")
    raw = "\r\n".join(headers).encode("utf-8", "surrogatepass") + b"\r\n"
    return raw + draw(body())


def _clean(value: str) -> bool:
    return not any(ch in value for ch in "\r\n\x00")


@FUZZ
@given(mail())
def test_any_mail_is_read_without_error_and_without_line_breaks_in_headers(raw: bytes) -> None:
    inbound = mail_to_inbound(raw, NOW)
    original, *files = inbound.attachments
    assert (original.name, original.data) == (RAW_NAME, raw)
    for value in (inbound.subject, inbound.sender_name, inbound.sender_id, inbound.conversation):
        assert _clean(value), value
    assert not any(ch.isspace() for ch in inbound.sender_id)
    for file in files:
        assert _clean(file.name) and "/" not in file.name and "\\" not in file.name
        assert 0 < len(file.name) <= 120


@FUZZ
@given(st.lists(mail(), min_size=1, max_size=4))
def test_any_mail_is_stored_and_nothing_goes_to_an_address_without_a_domain(
    mails: list[bytes],
) -> None:
    asyncio.run(_through_the_bot(mails))


async def _through_the_bot(mails: list[bytes]) -> None:
    clock = FakeClock()
    store = MemoryStore()
    bot = ComplaintBot(MemoryRepository(clock, store), BotConfig(), clock)
    sent = RecordingSender()
    dispatcher = Dispatcher(MemoryOutbox(store), {"email": sent}, clock)
    for number, raw in enumerate(mails):
        clock.advance(seconds=30)
        inbound = mail_to_inbound(raw, clock.now())
        # Each mail its own, so that none is taken for another one fetched twice.
        await bot.handle_safely(replace(inbound, transport_id=f"fuzz-{number}"))
    while await dispatcher.run_once():
        pass
    assert len([m for m in store.tables.messages if m.direction == "in"]) == len(mails)
    assert all(answerable(o.conversation) for o in sent.sent)
