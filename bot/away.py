"""An agent's answer the complainant did not see: mailed to them, with a link back.

On a channel where the bot can tell what the complainant's page has shown (the
configured `AwayMail.channels`), an agent's answer arms the case's `unseen` timer,
`AwayMail.after` later (unless one is armed already). When it fires, the answers
delivered since the last such timer that the page has still not shown go in one mail
to the case's address, on the mail channel, with a link that opens the conversation
again. Answers the page showed meanwhile are not mailed; none left: no mail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot.contact import answerable
from bot.i18n import Translator
from bot.messages import Outbound
from bot.ports import CaseRecord, CaseStore, Clock, ReplyQueue, ShownAnswers, TimerStore

# The case's timer that looks whether its answers were shown.
UNSEEN = "unseen"


@dataclass(frozen=True, slots=True)
class AwayMail:
    """Which channels' answers are mailed when not shown, how long after they are
    sent, and the link (to the conversation named) that continues it."""

    channels: frozenset[str]
    link: Callable[[str], str]
    after: timedelta = timedelta(minutes=2)


class _Tx(CaseStore, TimerStore, ReplyQueue, ShownAnswers, Protocol):
    """What a firing `unseen` timer works on."""


class AwayMailer:
    """Arms a case's `unseen` timer when an agent answers, and mails what was not shown."""

    def __init__(self, config: AwayMail | None, mail_channel: str | None, clock: Clock) -> None:
        self.config = config
        self.mail_channel = mail_channel
        self.clock = clock

    def applies(self, case: CaseRecord) -> bool:
        """Whether the case's unseen answers are mailed: its channel shows what it
        showed, and the complainant gave an address mail can go to."""
        return (
            self.config is not None
            and self.mail_channel is not None
            and case.channel in self.config.channels
            and case.email is not None
            and answerable(case.email)
        )

    async def answered(self, tx: TimerStore, case: CaseRecord) -> None:
        """An agent's answer to the complainant was queued."""
        if self.config is None or not self.applies(case):
            return
        if await tx.timer_pending(case, UNSEEN):
            return  # the armed one looks at this answer too
        await tx.set_timers(case, [(UNSEEN, self.clock.now() + self.config.after)])

    async def fire(self, tx: _Tx, case: CaseRecord) -> bool:
        """Mails the answers not shown; False when there was nothing to mail."""
        if self.config is None or self.mail_channel is None or not self.applies(case):
            return False
        assert case.email is not None
        since = await tx.timer_last_finished(case, UNSEEN)
        answers = await tx.answers_not_shown(case, since)
        if not answers:
            return False
        tr = Translator(case.locale)
        lines = [
            tr.ngettext(
                "You have a new reply about case {case_no}:",
                "You have {count} new replies about case {case_no}:",
                len(answers),
            ).format(case_no=case.case_no, count=len(answers))
        ]
        for text in answers:
            lines += ["", text]
        link = self.config.link(case.conversation)
        lines += ["", tr._("Continue the conversation: {link}").format(link=link)]
        now = self.clock.now()
        await tx.enqueue(
            Outbound(
                channel=self.mail_channel,
                conversation=case.email,
                text="\n".join(lines),
                case_no=case.case_no,
            ),
            "answer_mail",
            now,
        )
        await tx.add_event(case, now, "system", "answer_mailed", {"count": len(answers)})
        return True
