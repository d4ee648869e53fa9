"""The status page's one-time codes: who may see a case, and what they see of it.

Whoever gives a case number and the phone or the email of that case's complaint gets a
six-digit code mailed to the case's email address; the code, entered within
`CODE_MINUTES`, shows the case's status, deadlines and public story. The answer to a
request is the same whether the details matched a case or not (no one learns which case
numbers exist or whose they are); what did happen is logged. A code works once, dies
after `MAX_WRONG_TRIES` wrong tries, and a newer code replaces it; a case gets at most
`CODES_PER_HOUR` codes an hour.

The mail is a person's own request, not an automatic reply: the limits on automatic
mail to one address (`bot.letters`) do not apply to it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.contact import normalise_email, normalise_phone
from bot.domain import ERASED
from bot.i18n import Translator
from bot.messages import Outbound
from bot.ports import StatusCase, StatusCodeStore, StatusCodeTx, TimelineEntry

log = logging.getLogger(__name__)

CODE_MINUTES = 10
MAX_WRONG_TRIES = 5
CODES_PER_HOUR = 5
CODE_DIGITS = 6

# The events a complainant may see of their own case, and the payload field whose text
# they were sent (None: the event has no text of its own to show). Internal notes,
# agents' names, referrals to partners and notices among staff are never among them.
PUBLIC_EVENTS: dict[str, str | None] = {
    "received": None,
    "receipt_sent": "text",
    "agent_message": "text",
    "info_requested": "text",
    "resolved": "resolution",
    "reopened": None,
    "survey_answered": "score",
    "archived": None,
}


class CodeAnswer(StrEnum):
    """What the page tells the one who asked for a code."""

    # "If the details match a case, we have sent a code to its email address": the
    # same whether they matched, the case has no email, or it had codes enough.
    SENT = "sent"
    MAIL_OFF = "mail_off"  # this installation cannot send codes at all


@dataclass(frozen=True, slots=True)
class StoryEntry:
    """One step of a case's public story; `text` is what the complainant was sent
    (or, for a survey, the rating they gave)."""

    at: datetime
    kind: str
    text: str | None


@dataclass(frozen=True, slots=True)
class PublicCase:
    """What the status page shows of a case to the one who entered its code."""

    case: StatusCase
    story: tuple[StoryEntry, ...]


def case_number(text: str) -> str:
    """A typed case number as stored: upper case, no whitespace anywhere."""
    return "".join(text.split()).upper()


def code_hash(case_id: int, code: str) -> str:
    """The stored form of a code: bound to its case, so one hash says nothing of another."""
    return hashlib.sha256(f"{case_id}:{code}".encode()).hexdigest()


class StatusCodes:
    """Sends the codes and opens cases to those who enter them."""

    def __init__(
        self,
        store: StatusCodeStore,
        *,
        phone_region: str,
        mail_channel: str | None,
    ) -> None:
        self.store = store
        self.phone_region = phone_region
        self.mail_channel = mail_channel

    async def ask_status_code(self, case_no: str, contact: str, now: datetime) -> CodeAnswer:
        """Mails a code when `contact` is the phone or the email of case `case_no` and
        the case has an email address; the answer does not say whether it did."""
        if self.mail_channel is None:
            return CodeAnswer.MAIL_OFF
        number = case_number(case_no)
        async with self.store.transaction() as tx:
            case = await tx.status_case(number)
            if case is None or not self._matches(case, contact):
                log.info("status code asked for %r: no case with that contact", number)
                return CodeAnswer.SENT
            if case.email is None:
                log.info("status code asked for %s: the case has no email", number)
                return CodeAnswer.SENT
            since = now - timedelta(hours=1)
            if await tx.codes_since(case.id, since) >= CODES_PER_HOUR:
                log.warning("status code asked for %s: over %d an hour", number, CODES_PER_HOUR)
                return CodeAnswer.SENT
            await self._send(tx, case, case.email, now)
            log.info("status code sent for %s", number, extra={"case_no": number})
        return CodeAnswer.SENT

    async def check_status_code(self, case_no: str, code: str, now: datetime) -> PublicCase | None:
        """The case's public view when `code` is its current code, still valid; None
        otherwise (a wrong code counts against the code's tries)."""
        given = "".join(code.split())
        async with self.store.transaction() as tx:
            case = await tx.status_case(case_number(case_no))
            if case is None:
                return None
            current = await tx.current_code(case.id)
            if (
                current is None
                or current.used_at is not None
                or current.attempts >= MAX_WRONG_TRIES
                or now >= current.expires_at
            ):
                return None
            if not hmac.compare_digest(current.code_hash, code_hash(case.id, given)):
                current.attempts += 1
                await tx.save_code(current)
                return None
            current.used_at = now
            await tx.save_code(current)
            return await self._public(tx, case)

    async def public_case(self, case_no: str) -> PublicCase | None:
        """The case's public view, for one who entered its code a moment ago (the page
        keeps that in a cookie of its own)."""
        async with self.store.transaction() as tx:
            case = await tx.status_case(case_number(case_no))
            return None if case is None else await self._public(tx, case)

    def _matches(self, case: StatusCase, contact: str) -> bool:
        contact = contact.strip()
        if "@" in contact:
            email = normalise_email(contact)
            return bool(email and case.email and email.lower() == case.email.lower())
        phone = normalise_phone(contact, self.phone_region)
        return bool(phone and case.phone and phone == case.phone)

    async def _send(self, tx: StatusCodeTx, case: StatusCase, address: str, now: datetime) -> None:
        assert self.mail_channel is not None
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        expires = now + timedelta(minutes=CODE_MINUTES)
        await tx.issue_code(case.id, code_hash(case.id, code), address, now, expires)
        tr = Translator(case.locale)
        text = "\n".join(
            [
                tr._("Your code for the status of case {case_no}: {code}").format(
                    case_no=case.case_no, code=code
                ),
                tr._("It works once and expires in {minutes} minutes.").format(
                    minutes=CODE_MINUTES
                ),
                tr._(
                    "If you did not ask for it, ignore this mail; no one sees your case without it."
                ),
            ]
        )
        subject = tr._("Your code for case {case_no}").format(case_no=case.case_no)
        # No case number on the message: the code stays off the case's timeline.
        outbound = Outbound(
            channel=self.mail_channel, conversation=address, text=text, subject=subject
        )
        await tx.queue_code_mail(outbound, now)

    async def _public(self, tx: StatusCodeTx, case: StatusCase) -> PublicCase:
        events = await tx.timeline(case.id, frozenset(PUBLIC_EVENTS))
        return PublicCase(case, tuple(_story_entry(event) for event in events))


def _story_entry(event: TimelineEntry) -> StoryEntry:
    field = PUBLIC_EVENTS[event.kind]
    value: Any = event.payload.get(field) if field else None
    text = None if value in (None, "", ERASED) else str(value)
    return StoryEntry(event.at, event.kind, text)
