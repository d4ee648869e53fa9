"""Cases entered from elsewhere: a regulator's referral, a phone call, a walk-in, a letter
on paper — typed in by a CRM or an integration through the API.

They open through `Cases.open` like every other case, so they get the same number,
deadlines, timers, timeline and card in the agents' group. What differs:

- `received_at` is when the complainant first complained (to the regulator, on the
  phone), given by the caller; the deadlines count from it, while the case number
  carries the day the case is entered. A time in the future is refused.
- The complainant is answered where we can reach them: with an email address and the
  mail channel on, the case lives on the mail channel under that address (the receipt
  goes there, and so does every later reply); otherwise it lives on `EXTERNAL_CHANNEL`,
  which no transport sends on, and the timeline says why no receipt went out.
- The privacy notice: a mailed receipt carries its line (the timeline says
  "mail_receipt"); otherwise we never showed it, and the timeline says the case was
  entered by staff (whoever took the complaint tells the complainant).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from bot.answers import MAX_EXPECTATION, MAX_NAME, MAX_SUBJECT, clean
from bot.cases import Cases, Complaint
from bot.contact import answerable, normalise_email, normalise_phone
from bot.domain import Category, NoticeGiven, NoticeHow, Source
from bot.i18n import Translator
from bot.messages import Outbound
from bot.notice import PrivacyNotice, receipt_line
from bot.ports import Clock, ConversationTx, Repository
from bot.staff import StaffNotices

log = logging.getLogger(__name__)

# The channel of a case whose complainant we cannot write to: nothing sends on it, so
# a reply queued there is reported to the agents as undelivered.
EXTERNAL_CHANNEL = "external"
MAX_EXTERNAL_REF = 100


class InvalidComplaint(ValueError):
    """A field of an entered complaint is missing or wrong; `field` names it (as the
    case JSON does: "complainant.email")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ExternalComplaint:
    """A complaint as a CRM enters it, before it is checked."""

    source: Source
    category: Category
    name: str
    phone: str | None
    email: str | None
    subject: str
    description: str
    expectation: str
    received_at: datetime
    external_ref: str | None = None
    locale: str | None = None
    # Who entered it (the API token's name), on the timeline's "received" event.
    entered_by: str | None = None


@dataclass(frozen=True, slots=True)
class Entered:
    """The case an entered complaint opened, and whether its receipt was queued."""

    case_no: str
    receipt_sent: bool


class ExternalIntake:
    """Opens the cases entered from elsewhere and sends their receipts."""

    def __init__(
        self,
        repository: Repository,
        cases: Cases,
        staff: StaffNotices,
        clock: Clock,
        *,
        default_locale: str,
        phone_region: str,
        mail_channel: str | None,
        privacy: PrivacyNotice | None = None,
    ) -> None:
        self.repository = repository
        self.cases = cases
        self.staff = staff
        self.clock = clock
        self.default_locale = default_locale
        self.phone_region = phone_region
        self.mail_channel = mail_channel
        self.privacy = privacy or PrivacyNotice()

    async def open(self, entered: ExternalComplaint) -> Entered:
        """Opens the case; `InvalidComplaint` when a field is wrong (nothing is stored)."""
        complaint = self._checked(entered)
        channel, conversation = self._where(complaint)
        how = NoticeHow.MAIL_RECEIPT if channel == self.mail_channel else NoticeHow.ENTERED_BY_STAFF
        complaint = replace(complaint, privacy=NoticeGiven.shown(self.privacy.version, how))
        async with self.repository.conversation(channel, conversation, conversation) as tx:
            opened = await self.cases.open(tx, channel, conversation, complaint)
            if channel == self.mail_channel:
                tr = Translator(complaint.locale)
                lines = [
                    *self.cases.receipt(tr, opened),
                    "",
                    tr._(
                        "Keep the case number in the subject when you write to us about this case."
                    ),
                    "",
                    receipt_line(tr._, self.privacy),
                ]
                await tx.enqueue(
                    Outbound(
                        channel=channel,
                        conversation=conversation,
                        text="\n".join(lines),
                        case_no=opened.case_no,
                    ),
                    "receipt",
                    self.clock.now(),
                )
            else:
                await self._no_receipt(tx, opened.case_no, complaint)
        return Entered(opened.case_no, channel == self.mail_channel)

    def _where(self, complaint: Complaint) -> tuple[str, str]:
        """The channel and conversation the complainant is answered in."""
        if complaint.email and self.mail_channel and answerable(complaint.email):
            return self.mail_channel, complaint.email
        # One conversation per person where we know one, so their cases share it.
        reference = complaint.external_ref or str(self.clock.now().timestamp())
        key = complaint.phone or complaint.email or f"{complaint.source}:{reference}"
        return EXTERNAL_CHANNEL, key

    async def _no_receipt(self, tx: ConversationTx, case_no: str, complaint: Complaint) -> None:
        case = await tx.case(case_no)
        assert case is not None
        reason = "mail_off" if complaint.email else "no_channel"
        log.info("no receipt for case %s: %s", case_no, reason, extra={"case_no": case_no})
        await tx.add_event(case, self.clock.now(), "system", "receipt_not_sent", {"reason": reason})
        if self.staff.active:
            note = self.staff.tr._(
                "⚠️ No receipt was sent: we cannot write to this complainant ({contact}). "
                "Tell them the case number another way."
            ).format(contact=complaint.phone or complaint.email or "-")
            await self.staff.post(tx, case, note)

    def _checked(self, entered: ExternalComplaint) -> Complaint:
        now = self.clock.now()
        if entered.received_at.tzinfo is None:
            raise InvalidComplaint("received_at", "received_at needs a time zone offset.")
        if entered.received_at > now:
            raise InvalidComplaint("received_at", "received_at is in the future.")
        phone = email = None
        if entered.phone:
            phone = normalise_phone(entered.phone, self.phone_region)
            if phone is None:
                raise InvalidComplaint("complainant.phone", "Not a valid phone number.")
        if entered.email:
            email = normalise_email(entered.email)
            if email is None:
                raise InvalidComplaint("complainant.email", "Not a valid email address.")
        return Complaint(
            locale=Translator(entered.locale or self.default_locale).locale,
            name=_text("complainant.name", entered.name, MAX_NAME),
            phone=phone,
            email=email,
            category=entered.category,
            subject=_text("subject", entered.subject, MAX_SUBJECT),
            description=_text("description", entered.description, None),
            expectation=_text("expectation", entered.expectation, MAX_EXPECTATION, required=False),
            received_at=entered.received_at,
            source=entered.source.value,
            external_ref=_text("external_ref", entered.external_ref or "", MAX_EXTERNAL_REF, False)
            or None,
            entered_by=entered.entered_by,
        )


def _text(field: str, value: str, limit: int | None, required: bool = True) -> str:
    text = clean(value)
    if required and not text:
        raise InvalidComplaint(field, f"{field} is empty.")
    if limit is not None and len(text) > limit:
        raise InvalidComplaint(field, f"{field} is longer than {limit} characters.")
    return text
