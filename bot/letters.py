"""Complaints by letter (mail): a new letter is a case at once, a reply joins its case,
robots get nothing.

Unlike a chat, a letter arrives whole, so there is no question-and-answer intake: the
sender's name and address, the subject and the text, the attached files, a phone
number and a category where the text makes them obvious become the case, and the
receipt (sent at once) asks for what is still missing — the expected outcome — which
the reply then fills in.

Which case a letter belongs to, in this order:
1. a case number in the subject, when the sender is that case's complainant (anyone
   else quoting a number must not reach into someone else's case);
2. the message ids it answers (`Inbound.references`: a mail's In-Reply-To and
   References) naming a message of a case (ours or theirs), whoever sends it — a
   reply from a second address, an Outlook reply without References but with
   In-Reply-To, a subject the user changed all stay in their case;
3. otherwise a new case. A reply to an archived case opens a new one.

A letter from a partner's address is the partner's (`bot.partner_letters`): it never
opens a case. Letters from robots (auto-replies, bounces, lists; the channel says why in
`Inbound.automated`) are filed under their case for the record and never answered; a
bounce is shown to the agents. On top of that, at most `auto_reply_limit` automatic
letters go to one address per hour, so a loop nobody foresaw dies out, and the same
letter sent again by the same sender within `DUPLICATE_WINDOW` (an auto-responder
without robot headers, a client sending twice), new or as a reply to the receipt, is
filed on the case the first one opened, unanswered.

A letter is answered at its sender's address, and an address without a domain (`mal`)
is not one: the case is filed as usual, nothing is sent, and the agents are told.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import timedelta

import phonenumbers

from bot.answers import MAX_EXPECTATION, MAX_NAME, MAX_SUBJECT
from bot.cases import Cases, Complaint
from bot.contact import answerable, normalise_email
from bot.domain import (
    CaseStatus,
    Category,
    NoticeGiven,
    NoticeHow,
    case_numbers_in,
    suggest_category,
)
from bot.draft import EvidenceRef
from bot.followup import Surveys, parse_rating
from bot.i18n import Translator
from bot.messages import Attachment, Inbound, Outbound
from bot.notice import PrivacyNotice, receipt_line
from bot.partner_letters import PartnerLetters
from bot.ports import CaseRecord, CaseStore, Clock, ConversationTx
from bot.staff import StaffNotices

log = logging.getLogger(__name__)

# Agents' notes of robot mail carry this much of its text.
ROBOT_EXCERPT = 500
# The category when the text does not make it obvious: a plain request for help,
# whose limit is the shortest there is, so nothing is promised later than it should be.
DEFAULT_CATEGORY = Category.HELP_REQUEST
# The same subject and text from the same sender within this time is one letter sent twice.
DUPLICATE_WINDOW = timedelta(minutes=10)


class Letters:
    """Handles every inbound letter: a new case, a reply to a case, a rating, a robot."""

    def __init__(
        self,
        cases: Cases,
        surveys: Surveys,
        staff: StaffNotices,
        clock: Clock,
        *,
        default_locale: str,
        phone_region: str,
        auto_reply_limit: int,
        privacy: PrivacyNotice | None = None,
    ) -> None:
        self.cases = cases
        self.surveys = surveys
        self.staff = staff
        self.clock = clock
        self.default_locale = default_locale
        self.phone_region = phone_region
        self.auto_reply_limit = auto_reply_limit
        self.privacy = privacy or PrivacyNotice()
        self.partner_letters = PartnerLetters(staff, cases.case_clock, clock)

    async def handle(self, tx: ConversationTx, inbound: Inbound) -> None:
        stored = tuple(
            [
                await tx.store_evidence(a, inbound.received_at)
                for a in inbound.attachments
                if a.received
            ]
        )
        too_large = tuple(a for a in inbound.attachments if not a.received)
        partners = await tx.partners_at(inbound.sender_id)
        if partners and not inbound.automated:
            await self.partner_letters.handle(tx, inbound, partners, stored)
            return
        case = await self._case_of(tx, inbound)
        if inbound.automated:
            await self._robot(tx, inbound, case, stored)
        elif case is None and (first := await self._sent_before(tx, inbound)) is not None:
            await self._repeated(tx, inbound, first, stored)
        elif case is None or case.status is CaseStatus.ARCHIVED:
            await self._open(tx, inbound, stored, too_large)
        else:
            await self._join(tx, inbound, case, stored, too_large)

    async def _case_of(self, tx: ConversationTx, inbound: Inbound) -> CaseRecord | None:
        for number in case_numbers_in(inbound.subject):
            case = await tx.case(number)
            if case is not None and await _is_complainant(tx, case, inbound):
                return case
            log.info("case number %s in the subject ignored: not the complainant", number)
        return await tx.case_by_references(inbound.references)

    async def _sent_before(self, tx: ConversationTx, inbound: Inbound) -> CaseRecord | None:
        """The case this sender's identical letter opened within `DUPLICATE_WINDOW`."""
        text = inbound.text.strip()
        summary = _summary(inbound.subject, text)
        if not summary:
            return None
        since = inbound.received_at - DUPLICATE_WINDOW
        for view in await tx.own_cases():  # newest first
            if view.received_at < since:
                break
            if view.subject != summary:
                continue
            case = await tx.case(view.case_no)
            if case is not None and case.description == (text or summary):
                return case
        return None

    @staticmethod
    def _soon_after(case: CaseRecord, inbound: Inbound) -> bool:
        return inbound.received_at - case.received_at <= DUPLICATE_WINDOW

    async def _repeated(
        self,
        tx: ConversationTx,
        inbound: Inbound,
        case: CaseRecord,
        stored: tuple[EvidenceRef, ...],
    ) -> None:
        """The same letter again: kept on its case, not a new case, not answered."""
        log.info("repeated mail filed on case %s, not answered", case.case_no)
        await tx.attach_inbound(case, stored)
        await tx.add_event(
            case,
            self.clock.now(),
            "system",
            "repeated_mail",
            {"message_id": inbound.message_id, "subject": inbound.subject},
        )

    # ----- new case ------------------------------------------------------------------

    async def _open(
        self,
        tx: ConversationTx,
        inbound: Inbound,
        stored: tuple[EvidenceRef, ...],
        too_large: tuple[Attachment, ...],
    ) -> None:
        text = inbound.text.strip()
        subject = " ".join(inbound.subject.split())[:MAX_SUBJECT]
        summary = _summary(inbound.subject, text)
        locale = _locale(f"{subject}\n{text}", self.default_locale)
        tr = Translator(locale)
        _ = tr.gettext
        opened = await self.cases.open(
            tx,
            inbound.channel,
            inbound.conversation,
            Complaint(
                locale=locale,
                name=(inbound.sender_name or inbound.sender_id)[:MAX_NAME],
                phone=_phone_in(text, self.phone_region),
                email=normalise_email(inbound.sender_id) or inbound.sender_id,
                category=suggest_category(f"{subject}\n{text}") or DEFAULT_CATEGORY,
                subject=summary or _("(no subject)"),
                description=text or summary or _("(no text; see the attached mail)"),
                expectation="",
                received_at=inbound.received_at,
                evidence=stored,
                privacy=NoticeGiven.shown(self.privacy.version, NoticeHow.MAIL_RECEIPT),
            ),
        )
        lines = [
            *self.cases.receipt(tr, opened),
            "",
            _(
                "To complete your complaint, please reply to this mail with the outcome you "
                "expect (for example: a refund, a correction, an explanation)."
            ),
            _("Keep the case number in the subject when you write to us about this case."),
            *_too_large_lines(tr, too_large),
            "",
            receipt_line(_, self.privacy),
        ]
        case = await tx.case(opened.case_no)
        assert case is not None
        await self._not_kept(tx, case, too_large)
        await self._reply(tx, inbound, case, "\n".join(lines), "receipt")

    # ----- reply to a case -------------------------------------------------------------

    async def _join(
        self,
        tx: ConversationTx,
        inbound: Inbound,
        case: CaseRecord,
        stored: tuple[EvidenceRef, ...],
        too_large: tuple[Attachment, ...],
    ) -> None:
        text = inbound.text.strip()
        if text and text == case.description and self._soon_after(case, inbound):
            # The letter that opened the case again, as a reply to our receipt: what an
            # auto-responder without robot headers sends. Not an answer to anything.
            await self._repeated(tx, inbound, case, stored)
            return
        if await self._rating(tx, inbound, case, text):
            return
        extra = {} if inbound.sender_id == case.conversation else {"from": inbound.sender_id}
        await self.cases.add_message(tx, case, text, stored, extra)
        await self._not_kept(tx, case, too_large)
        lines: list[str] = []
        tr = Translator(case.locale)
        if not case.expectation and text:
            # The receipt asked for the expected outcome: this answer is it.
            case.expectation = text[:MAX_EXPECTATION]
            await tx.add_event(
                case,
                self.clock.now(),
                f"complainant:{case.complainant_id}",
                "expectation_given",
                {"expectation": case.expectation},
            )
            await tx.save_case(case)
            lines.append(
                tr._("Thank you. Your expected outcome is recorded in case {case_no}.").format(
                    case_no=case.case_no
                )
            )
        lines += _too_large_lines(tr, too_large)
        if lines:
            await self._reply(tx, inbound, case, "\n".join(lines), "reply")

    async def _rating(
        self, tx: ConversationTx, inbound: Inbound, case: CaseRecord, text: str
    ) -> bool:
        """A reply to the survey letter: a digit 1–5 on its first line, perhaps a comment
        below it. No tracking links: mail scanners would click them."""
        first, _sep, rest = text.partition("\n")
        score = parse_rating(first)
        if score is None or case.status is not CaseStatus.RESOLVED:
            return False
        if inbound.sender_id != case.conversation:
            return False  # only the complainant rates
        survey = await tx.latest_survey(case)
        if survey is None or not survey.awaiting_answer:
            return False
        await tx.attach_inbound(case)
        answers = await self.surveys.rate(tx, case, survey, score, rest.strip())
        # A later letter would open a new case once this one is archived, so the comment
        # is invited in the survey itself (below the digit), not here.
        await self._reply(tx, inbound, case, answers[0], "survey_answer")
        return True

    async def _not_kept(
        self, tx: ConversationTx, case: CaseRecord, too_large: tuple[Attachment, ...]
    ) -> None:
        """Files the channel did not fetch (over its limit): on the timeline, and told to
        the agents, who may need to ask for them another way."""
        for attachment in too_large:
            await tx.add_event(
                case,
                self.clock.now(),
                "system",
                "evidence_not_kept",
                {"name": attachment.name, "size": attachment.size, "reason": "too large"},
            )
            if self.staff.active:
                note = self.staff.tr._(
                    "📎 “{name}” not kept as evidence: too large ({size} MB)."
                ).format(name=attachment.name, size=megabytes(attachment.size))
                await self.staff.post(tx, case, note)

    # ----- robots ----------------------------------------------------------------------

    async def _robot(
        self,
        tx: ConversationTx,
        inbound: Inbound,
        case: CaseRecord | None,
        stored: tuple[EvidenceRef, ...],
    ) -> None:
        log.info(
            "automatic mail (%s) for case %s filed, not answered",
            inbound.automated,
            case.case_no if case else "-",
        )
        if case is None:
            return  # kept in the message log; no case to add it to
        bounce = inbound.automated == "bounce"
        await tx.attach_inbound(case, stored)
        await tx.add_event(
            case,
            self.clock.now(),
            "system",
            "delivery_bounced" if bounce else "automatic_mail",
            {
                "from": inbound.sender_id,
                "reason": inbound.automated,
                "subject": inbound.subject,
                "text": inbound.text,
            },
        )
        staff = self.staff
        if not staff.active:
            return
        excerpt = inbound.text[:ROBOT_EXCERPT]
        if bounce:
            note = staff.tr._("⚠️ A mail to the complainant bounced:\n{text}").format(text=excerpt)
        else:
            note = staff.tr._("🤖 Automatic reply from {sender} (not answered):\n{text}").format(
                sender=inbound.sender_id, text=excerpt
            )
        await staff.post(tx, case, note)

    # ----- sending ---------------------------------------------------------------------

    async def _reply(
        self, tx: ConversationTx, inbound: Inbound, case: CaseRecord, text: str, kind: str
    ) -> None:
        """An automatic letter to the sender, unless the hourly cap for the address is hit
        or the address is none."""
        now = self.clock.now()
        if not answerable(inbound.conversation):
            await self._unanswerable(tx, inbound, case, kind)
            return
        limit = self.auto_reply_limit
        if await tx.automatic_replies_since(now - timedelta(hours=1)) >= limit:
            log.warning(
                "no %s to the sender of case %s: %d automatic mails in the last hour",
                kind,
                case.case_no,
                limit,
                extra={"case_no": case.case_no},
            )
            await tx.add_event(
                case, now, "system", "auto_reply_suppressed", {"kind": kind, "limit": limit}
            )
            return
        await tx.enqueue(
            Outbound(
                channel=inbound.channel,
                conversation=inbound.conversation,
                text=text,
                case_no=case.case_no,
            ),
            kind,
            now,
        )

    async def _unanswerable(
        self, tx: ConversationTx, inbound: Inbound, case: CaseRecord, kind: str
    ) -> None:
        log.warning(
            "no %s sent: the sender's address has no domain", kind, extra={"case_no": case.case_no}
        )
        await tx.add_event(
            case,
            self.clock.now(),
            "system",
            "auto_reply_not_sent",
            {"kind": kind, "reason": "no domain", "address": inbound.conversation},
        )
        if self.staff.active:
            note = self.staff.tr._(
                "⚠️ The sender's address “{address}” has no domain: it is not a mail "
                "address, so no mail was sent to it. Reach the complainant another way."
            ).format(address=inbound.conversation)
            await self.staff.post(tx, case, note)


async def _is_complainant(tx: CaseStore, case: CaseRecord, inbound: Inbound) -> bool:
    if case.email and case.email.lower() == inbound.sender_id.lower():
        return True
    return any(view.case_no == case.case_no for view in await tx.own_cases())


def _summary(subject: str, text: str) -> str:
    """What a letter's case is titled: its subject, else its first line."""
    subject = " ".join(subject.split())[:MAX_SUBJECT]
    return subject or (text.splitlines()[0][:MAX_SUBJECT] if text else "")


def _phone_in(text: str, region: str) -> str | None:
    """The first valid phone number written in the text, in E.164."""
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _locale(text: str, default: str) -> str:
    """Chinese when the letter has Chinese in it, English when it is plain Latin text."""
    letters = [ch for ch in text if ch.isalpha()]
    if any(unicodedata.name(ch, "").startswith("CJK") for ch in letters):
        return "zh_CN"
    if letters and all(ch.isascii() for ch in letters):
        return "en"
    return default


def letter_locale(inbound: Inbound, default: str) -> str:
    """The language a letter is written in (its subject and text), for what we send back."""
    return _locale(f"{inbound.subject}\n{inbound.text}", default)


def megabytes(size: int) -> int:
    """A file's size in whole megabytes, at least 1."""
    return max(1, round(size / 2**20))


def _too_large_lines(tr: Translator, files: tuple[Attachment, ...]) -> list[str]:
    return [
        tr._("“{name}” ({size} MB) is too large and could not be received.").format(
            name=a.name, size=megabytes(a.size)
        )
        for a in files
    ]
