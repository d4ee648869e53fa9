"""The SMTP server down for minutes while receipts are due, then up again: the dispatcher
keeps retrying (backoff on the injected clock) and each receipt arrives exactly once."""

from __future__ import annotations

from bot.router import ComplaintBot
from channels.email.inbound import mail_to_inbound
from channels.email.smtp import SmtpConfig, SmtpSender
from delivery.dispatcher import Dispatcher
from storage.outbox import SqlOutbox
from tests.channels import mail_corpus as corpus
from tests.support.clock import FakeClock
from tests.support.records import Records
from tests.support.smtp_server import SmtpServer

PEOPLE = [f"writer{n}@example.cn" for n in range(6)]
DOWN_FOR = 4 * 60  # seconds on the injected clock


async def test_receipts_due_while_smtp_is_down_are_each_delivered_once_after_it_returns(
    smtp_server: SmtpServer,
    bot: ComplaintBot,
    outbox: SqlOutbox,
    records: Records,
    clock: FakeClock,
) -> None:
    smtp_server.stop()
    for n, address in enumerate(PEOPLE):
        mail = corpus.gbk_complaint(message_id=f"<down-{n}@example.cn>", sender=address)
        await bot.handle(mail_to_inbound(mail, clock.now()))
    sender = SmtpSender(SmtpConfig("127.0.0.1", smtp_server.port, "none", "support@corp.example"))
    dispatcher = Dispatcher(outbox, {"email": sender}, clock, jitter=lambda low, high: high)

    # Down: every due try fails and is put off (2 s, 4 s, 8 s, ...); none is given up.
    start = clock.monotonic()
    tries = 0
    while clock.monotonic() - start < DOWN_FOR:
        tries += await dispatcher.run_once()
        clock.advance(seconds=1)
    assert tries >= 7 * len(PEOPLE)  # each receipt tried again and again meanwhile
    assert not smtp_server.messages

    # Up: the next due try delivers; later passes send nothing again.
    smtp_server.start()
    delivered = 0
    for _ in range(10 * 60):
        delivered += await dispatcher.run_once()
        clock.advance(seconds=1)
    stored = await records.cases()
    answered = {address: len(smtp_server.to(address)) for address in PEOPLE}
    duplicated = sum(count - 1 for count in answered.values() if count > 1)
    # The figures: sent 6, stored 6, answered 6 (each once), duplicated 0.
    assert (len(PEOPLE), len(stored), sum(answered.values()), duplicated) == (6, 6, 6, 0)
    assert set(answered.values()) == {1}
    assert all("TS-" in str(m.message["Subject"]) for m in smtp_server.messages)
    assert delivered == len(PEOPLE)
