"""Sending mail through a real SMTP server (aiosmtpd): the message, failures, the outbox."""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.messages import Attachment, Outbound
from bot.router import ComplaintBot
from channels.email.inbound import mail_to_inbound
from channels.email.smtp import SmtpConfig, SmtpSender
from delivery.dispatcher import Dispatcher
from delivery.sending import DeliveryError
from storage.outbox import SqlOutbox
from tests.channels import mail_corpus as corpus
from tests.support.certificates import self_signed
from tests.support.clock import FakeClock
from tests.support.smtp_server import SmtpServer

USER = "wang@example.cn"
FROM = "投诉受理 <support@corp.example>"


def sender(server: SmtpServer) -> SmtpSender:
    return SmtpSender(SmtpConfig("127.0.0.1", server.port, "none", FROM, timeout=5))


def reply(**changes: object) -> Outbound:
    fields: dict[str, object] = {
        "channel": "email",
        "conversation": USER,
        "text": "您的投诉已受理。\n案件编号：TS-20261122-0001\n\n<b>不是标签</b>",
        "case_no": "TS-20261122-0001",
        "subject": "话费被多扣了",
        "references": ("<first@example.cn>", "<receipt@corp.example>", "<second@example.cn>"),
        "automatic": True,
        **changes,
    }
    return Outbound(**fields)  # type: ignore[arg-type]


async def test_a_reply_is_threaded_utf8_text_and_html(smtp_server: SmtpServer) -> None:
    sent = await sender(smtp_server).send(reply())
    (received,) = smtp_server.to(USER)
    message: EmailMessage = received.message
    assert received.sender == "support@corp.example"
    assert str(message["Subject"]) == "Re: [TS-20261122-0001] 话费被多扣了"
    assert str(message["From"]) == FROM
    assert sent.message_ids == (str(message["Message-ID"]),)
    assert re.fullmatch(r"<[0-9a-f]{32}@corp\.example>", sent.message_ids[0])
    assert str(message["In-Reply-To"]).strip() == "<second@example.cn>"
    assert str(message["References"]).split() == [
        "<first@example.cn>",
        "<receipt@corp.example>",
        "<second@example.cn>",
    ]
    assert message["Auto-Submitted"] == "auto-replied"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert "案件编号：TS-20261122-0001" in plain.get_content()
    assert plain.get_content_charset() == "utf-8"
    assert "&lt;b&gt;不是标签&lt;/b&gt;" in html.get_content()


async def test_an_agents_answer_is_not_marked_automatic_and_carries_files(
    smtp_server: SmtpServer,
) -> None:
    invoice = Attachment("发票.pdf", "application/pdf", b"%PDF-1.4", 8)
    await sender(smtp_server).send(reply(automatic=False, files=(invoice,)))
    message = smtp_server.to(USER)[0].message
    assert message["Auto-Submitted"] is None
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "发票.pdf"
    assert attachment.get_content() == b"%PDF-1.4"


async def test_what_we_send_is_recognised_as_ours_when_it_comes_back(
    smtp_server: SmtpServer,
) -> None:
    await sender(smtp_server).send(reply())
    inbound = mail_to_inbound(
        smtp_server.to(USER)[0].raw,
        FakeClock().now(),
        own_addresses=frozenset({"support@corp.example"}),
    )
    assert inbound.automated is not None  # never answered, whatever loop brought it back


async def test_an_unknown_recipient_fails_for_good(smtp_server: SmtpServer) -> None:
    smtp_server.unknown.add(USER)
    with pytest.raises(DeliveryError) as failure:
        await sender(smtp_server).send(reply())
    assert failure.value.permanent


@pytest.mark.parametrize("address", ["mal", "mal@", "@evil.example", "a b@example.cn"])
async def test_an_address_without_a_domain_is_never_handed_to_the_server(
    smtp_server: SmtpServer, address: str
) -> None:
    with pytest.raises(DeliveryError) as failure:
        await sender(smtp_server).send(reply(conversation=address))
    assert failure.value.permanent
    assert smtp_server.messages == []


async def test_a_server_that_is_down_is_a_transient_failure(smtp_server: SmtpServer) -> None:
    smtp_server.stop()
    with pytest.raises(DeliveryError) as failure:
        await sender(smtp_server).send(reply())
    assert not failure.value.permanent


async def test_mail_waits_in_the_outbox_while_the_server_is_down(
    smtp_server: SmtpServer, bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    smtp_server.stop()
    await bot.handle(mail_to_inbound(corpus.gbk_complaint(sender=USER), clock.now()))
    dispatcher = Dispatcher(outbox, {"email": sender(smtp_server)}, clock)
    assert await dispatcher.run_once() == 1  # tried, failed, to be retried
    assert await dispatcher.run_once() == 0  # not due yet
    smtp_server.start()
    clock.advance(seconds=5)
    assert await dispatcher.run_once() == 1
    (receipt,) = smtp_server.to(USER)
    assert "TS-" in str(receipt.message["Subject"])
    clock.advance(minutes=10)
    assert await dispatcher.run_once() == 0  # sent once, never again


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("security", ["ssl", "starttls"])
# aiosmtpd does not see implicit TLS as TLS, and warns about a login without it.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_mail_goes_out_over_tls_with_a_login(
    certificate: tuple[Path, Path], security: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = SmtpServer(security, ("support@corp.example", "smtp-secret"), certificate)
    server.start()
    try:
        config = SmtpConfig(
            "127.0.0.1",
            server.port,
            security,
            FROM,
            username="support@corp.example",
            password="smtp-secret",
            timeout=5,
        )
        await SmtpSender(config).send(reply())
        assert len(server.to(USER)) == 1
        wrong = replace(config, password="wrong")
        with pytest.raises(DeliveryError) as failure:
            await SmtpSender(wrong).send(reply())
        # A wrong password is an operator's to fix: the mail waits, it is not dropped.
        assert not failure.value.permanent
        assert len(server.to(USER)) == 1
    finally:
        server.stop()
