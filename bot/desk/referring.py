"""Referring: /refer asks a partner of the directory (an access provider, a payment
channel) to investigate a case by a deadline.

    /refer KEY [DURATION] [contact] TEXT

The partner gets a mail of its own (not part of the complainant's thread, written by a
person, so not marked automatic) with the case number in its subject, TEXT, the files
attached to the command's message, and the complainant's contact only after the word
`contact`. DURATION defaults to the partner's usual time, else `DEFAULT_PARTNER_TIME`.
The case keeps its status; the referral has its own state and timers
(`CaseClock.referred`).
"""

from __future__ import annotations

import re

from bot.contact import answerable
from bot.desk.path import Change, CommandPath, DeskTurn, Say, To, command_files
from bot.domain import CaseStatus
from bot.draft import EvidenceRef
from bot.followup.partners import partner_letter, partner_subject
from bot.i18n import Translator
from bot.ports import CaseRecord, ConversationTx, PartnerRecord, ReferralRecord
from scheduler.calendar import Duration, parse_duration

DEFAULT_PARTNER_TIME = "3wd"
CONTACT_WORD = "contact"
_LOOKS_LIKE_DURATION = re.compile(r"^\d+(?:\.\d+)?[a-z]{1,3}$", re.IGNORECASE)


async def refer(path: CommandPath, turn: DeskTurn, case: CaseRecord, args: str) -> Change | None:
    _ = path.tr.gettext
    key, _sep, rest = args.strip().partition(" ")
    if not key:
        turn.refuse(
            _(
                "Write the partner and the question: /refer KEY [DURATION] [contact] TEXT "
                "(partners: complaintbot partners list)."
            )
        )
        return None
    partner = await _usable_partner(path, turn, key.lower())
    if partner is None:
        return None
    try:
        by, rest = _duration(partner, rest)
    except ValueError as error:
        turn.refuse(
            _("“{text}” is not a duration; write it like 4h, 3d, 4wh or 2wd.").format(
                text=str(error)
            )
        )
        return None
    first, _sep, after = rest.partition(" ")
    share_contact = first.casefold() == CONTACT_WORD
    text = after.strip() if share_contact else rest
    if not text:
        turn.refuse(_("Write what the partner should investigate: /refer KEY [DURATION] TEXT"))
        return None
    if path.mail_channel is None:
        turn.refuse(_("Partners are written to by mail, and mail is not set up (IMAP_HOST)."))
        return None
    if case.status is CaseStatus.ARCHIVED:
        turn.refuse(_("{case_no} is archived; it cannot be referred.").format(case_no=case.case_no))
        return None
    files = await command_files(turn)
    now = path.clock.now()  # both times are set when it is recorded
    asked = ReferralRecord(partner.key, now, now, text, share_contact=share_contact)
    stored: list[ReferralRecord] = []

    async def timers(tx: ConversationTx, case: CaseRecord) -> None:
        stored.append(await path.case_clock.referred(tx, case, asked, by, turn.agent.id))

    def tell(case: CaseRecord) -> list[Say]:
        (referral,) = stored
        due = path.staff.local(referral.due_at)
        return [
            Say(
                To.PARTNER,
                _partner_mail(path, turn, case, partner, referral, by, files),
                "partner_request",
                files=tuple(f.attachment() for f in files),
                address=partner.email,
                subject=partner_subject(path.tr, case.case_no),
            ),
            Say(
                To.THREAD,
                _("📨 {agent} referred {case_no} to {partner}; answer due {time}.").format(
                    agent=turn.agent.name, case_no=case.case_no, partner=partner.name, time=due
                ),
            ),
        ]

    return Change(
        None,
        "referred",
        {
            "partner": partner.key,
            "within": str(by),
            "text": text,
            "contact_shared": share_contact,
            "files": [f.named() for f in files],
        },
        timers=timers,
        tell=tell,
        takes_case=True,
        files=files,
    )


async def _usable_partner(path: CommandPath, turn: DeskTurn, key: str) -> PartnerRecord | None:
    _ = path.tr.gettext
    partner = await turn.tx.partner(key)
    if partner is None:
        turn.refuse(_("No partner “{key}”; complaintbot partners list shows them.").format(key=key))
    elif partner.disabled:
        turn.refuse(_("The partner {key} is disabled.").format(key=key))
    elif not answerable(partner.email):
        turn.refuse(
            _("The partner {key}'s address “{email}” is not a mail address.").format(
                key=key, email=partner.email
            )
        )
    else:
        return partner
    return None


def _duration(partner: PartnerRecord, rest: str) -> tuple[Duration, str]:
    """The deadline's length written first in `rest` (and what follows it), else the
    partner's usual time; ValueError (with the text) when a number with a unit is not
    a duration."""
    first, _sep, after = rest.strip().partition(" ")
    if _LOOKS_LIKE_DURATION.match(first):
        try:
            return parse_duration(first), after.strip()
        except ValueError:
            raise ValueError(first) from None
    sla = partner.sla or DEFAULT_PARTNER_TIME
    try:
        return parse_duration(sla), rest.strip()
    except ValueError:
        raise ValueError(sla) from None


def _partner_mail(
    path: CommandPath,
    turn: DeskTurn,
    case: CaseRecord,
    partner: PartnerRecord,
    referral: ReferralRecord,
    by: Duration,
    files: tuple[EvidenceRef, ...],
) -> str:
    """The mail to the partner, in the desk's language: what is asked, by when, and
    only what the agent chose to share."""
    tr, staff = path.tr, path.staff
    _ = tr.gettext
    lines = [
        _(
            "We ask you to investigate our complaint case {case_no} and to answer within "
            "{within}, by {time} ({zone})."
        ).format(
            case_no=case.case_no,
            within=duration_words(tr, by),
            time=staff.local(referral.due_at),
            zone=staff.timezone.key,
        ),
        "",
        _("What we ask:"),
        referral.text,
        "",
        _("Category: {category}").format(category=staff.category(case.category)),
        _("Received: {time}").format(time=staff.local(case.received_at)),
    ]
    if referral.share_contact:
        lines += [
            _("The complainant: {name}").format(name=case.name),
            *([_("Phone: {phone}").format(phone=case.phone)] if case.phone else []),
            *([_("Email: {email}").format(email=case.email)] if case.email else []),
        ]
    if files:
        lines.append(
            tr.ngettext("{n} file is attached.", "{n} files are attached.", len(files)).format(
                n=len(files)
            )
        )
    return partner_letter(tr, partner.name, case.case_no, lines, path.agent_name(tr, turn.agent))


def duration_words(tr: Translator, by: Duration) -> str:
    """`2wd` as "2 working days", `4h` as "4 hours": a deadline in the partner's terms."""
    text = by.text.strip()
    number_text = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number_text) :]
    number = float(number_text) if number_text else 0.0
    n = int(number) if number.is_integer() else number
    plural = 1 if number == 1 else 2
    words = {
        "wd": tr.ngettext("{n} working day", "{n} working days", plural),
        "wh": tr.ngettext("{n} working hour", "{n} working hours", plural),
        "d": tr.ngettext("{n} day", "{n} days", plural),
        "h": tr.ngettext("{n} hour", "{n} hours", plural),
        "m": tr.ngettext("{n} minute", "{n} minutes", plural),
        "s": tr.ngettext("{n} second", "{n} seconds", plural),
    }
    return words[unit].format(n=n) if unit in words else text


COMMANDS = {"refer": refer}
