"""A complaint filed whole at once, as a web form posts it.

Every field is checked by the chat intake's rules and told in its words
(`bot.answers`); the files are taken when they are pictures or documents
(`bot.file_kinds`) within the size limit. A complaint that passes opens its case like
a confirmed chat does (`Cases.open`: number, deadlines, timers, timeline, the card in
the agents' group) and its receipt is queued to the conversation.

Each form carries a one-time submission id, which names its conversation and its
inbound message: the same form posted twice (a double click, a reload) finds the case
the first post opened, and files nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.answers import MAX_EXPECTATION, MAX_NAME, MAX_SUBJECT, Answers, clean
from bot.cases import Cases, Complaint
from bot.domain import Category, NoticeGiven
from bot.draft import EvidenceRef
from bot.file_kinds import evidence_type
from bot.i18n import Translator
from bot.messages import Attachment, Inbound, InboundKind, Outbound
from bot.ports import CaseRecord, Clock, ConversationTx, Repository

log = logging.getLogger(__name__)

MAX_FILES = 10
# The form's fields, in the order a form shows them (and its problems are listed in).
FIELDS = (
    "name",
    "contact",
    "phone",
    "email",
    "category",
    "subject",
    "description",
    "evidence",
    "expectation",
    "consent",
)


@dataclass(frozen=True, slots=True)
class FormComplaint:
    """A complaint as the form posted it, every field as typed, before it is checked.

    `files` are the uploads; one whose `data` is None was over `upload_limit_mb` and
    was not read. `consent` is the version of the privacy notice the person agreed to,
    None when they did not tick the box."""

    submission: str
    locale: str
    name: str
    phone: str
    email: str
    category: str
    subject: str
    description: str
    expectation: str
    files: tuple[Attachment, ...] = ()
    consent: str | None = None
    upload_limit_mb: int = 20

    def raw(self) -> dict[str, Any]:
        """The form as received, without the files' bytes: what is kept of it as sent."""
        return {
            "form": "complaint",
            "submission": self.submission,
            "locale": self.locale,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "category": self.category,
            "subject": self.subject,
            "description": self.description,
            "expectation": self.expectation,
            "files": [{"name": f.name, "size": f.size} for f in self.files],
            "consent": self.consent,
        }


@dataclass(frozen=True, slots=True)
class FormFiled:
    """The case the form opened (or an earlier post of the same form did: `again`)."""

    case_no: str
    category: Category
    received_at: datetime
    respond_by: datetime | None
    resolve_by: datetime | None
    email: str | None
    again: bool = False


@dataclass(frozen=True, slots=True)
class FormRefused:
    """What is wrong with the form, field by field (names as in `FIELDS`); nothing was
    stored."""

    problems: dict[str, str] = field(default_factory=dict)


class FormIntake:
    """Checks posted forms and opens their cases."""

    def __init__(
        self, repository: Repository, cases: Cases, clock: Clock, *, phone_region: str
    ) -> None:
        self.repository = repository
        self.cases = cases
        self.clock = clock
        self.phone_region = phone_region

    async def file(self, channel: str, form: FormComplaint) -> FormFiled | FormRefused:
        """Opens the case of `form` on `channel`, or says what to correct."""
        tr = Translator(form.locale)
        complaint, files, problems = self._checked(tr, form)
        if complaint is None:
            return FormRefused(problems)
        conversation = f"form:{form.submission}"
        async with self.repository.conversation(channel, conversation, conversation) as tx:
            inbound = Inbound(
                channel=channel,
                transport_id=conversation,
                conversation=conversation,
                sender_id=conversation,
                received_at=complaint.received_at,
                kind=InboundKind.TEXT,
                text=complaint.description,
                sender_name=complaint.name,
                language_code=tr.locale,
                raw=form.raw(),
                consent=form.consent,
            )
            if not await tx.record_inbound(inbound):
                earlier = await tx.latest_case_of_sender()
                if earlier is not None:
                    log.info("form %s posted again: case %s", conversation, earlier.case_no)
                    return _filed(earlier)
            stored = [await tx.store_evidence(f, complaint.received_at) for f in files]
            return await self._open(tx, channel, conversation, tr, complaint, stored)

    async def _open(
        self,
        tx: ConversationTx,
        channel: str,
        conversation: str,
        tr: Translator,
        complaint: Complaint,
        evidence: list[EvidenceRef],
    ) -> FormFiled:
        opened = await self.cases.open(
            tx, channel, conversation, replace(complaint, evidence=tuple(evidence))
        )
        lines = self.cases.receipt(tr, opened)
        lines.append(tr._("You can follow it on the status page with the case number."))
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
        return FormFiled(
            opened.case_no,
            opened.category,
            opened.received_at,
            opened.deadlines.first_response,
            opened.deadlines.resolution,
            complaint.email,
        )

    def _checked(
        self, tr: Translator, form: FormComplaint
    ) -> tuple[Complaint | None, list[Attachment], dict[str, str]]:
        """The complaint the form makes and its files, or (None and) each field's
        problem."""
        _ = tr.gettext
        answers = Answers(tr, self.phone_region)
        required = _("Please fill in this field.")
        texts = {
            "name": answers.text(form.name, MAX_NAME, empty=required),
            "subject": answers.text(form.subject, MAX_SUBJECT, empty=required),
            "description": answers.text(form.description, None, empty=required),
            "expectation": answers.text(form.expectation, MAX_EXPECTATION, empty=required),
            "phone": answers.phone(form.phone),
            "email": answers.email(form.email),
        }
        problems = {key: c.problem for key, c in texts.items() if c.problem is not None}
        if not (clean(form.phone) or clean(form.email)):
            problems["contact"] = _(
                "Please give a mobile phone number or an email address (or both)."
            )
        category = _category(form.category)
        if category is None:
            problems["category"] = _("Please choose what kind of request this is.")
        files, evidence_problem = _evidence(tr, form)
        if evidence_problem:
            problems["evidence"] = evidence_problem
        if not form.consent:
            problems["consent"] = _("Please confirm that you have read the privacy notice.")
        if problems or category is None:
            return None, [], {key: problems[key] for key in FIELDS if key in problems}
        return (
            Complaint(
                locale=tr.locale,
                name=texts["name"].value,
                phone=texts["phone"].value or None,
                email=texts["email"].value or None,
                category=category,
                subject=texts["subject"].value,
                description=texts["description"].value,
                expectation=texts["expectation"].value,
                received_at=self.clock.now(),
                privacy=NoticeGiven.agreed_to(form.consent or ""),
            ),
            files,
            {},
        )


def _category(value: str) -> Category | None:
    try:
        return Category(value)
    except ValueError:
        return None


def _evidence(tr: Translator, form: FormComplaint) -> tuple[list[Attachment], str | None]:
    """The uploads as evidence, typed by their bytes; or the first problem with them."""
    _ = tr.gettext
    if len(form.files) > MAX_FILES:
        return [], _("Please send at most {count} files.").format(count=MAX_FILES)
    taken: list[Attachment] = []
    for upload in form.files:
        if upload.data is None or upload.size > form.upload_limit_mb * 1024 * 1024:
            return [], _(
                "“{name}” is larger than {limit} MB. Please send a smaller file, or several "
                "smaller ones."
            ).format(name=upload.name, limit=form.upload_limit_mb)
        mime = evidence_type(upload.name, upload.data)
        if mime is None:
            return [], _(
                "“{name}” is not a picture or a document we accept. Please send JPEG, PNG, "
                "GIF, WebP or HEIC pictures, or PDF, Word, Excel or text documents."
            ).format(name=upload.name)
        taken.append(replace(upload, mime=mime, size=len(upload.data)))
    return taken, None


def _filed(case: CaseRecord) -> FormFiled:
    return FormFiled(
        case.case_no,
        case.category,
        case.received_at,
        case.response_due_at,
        case.resolution_due_at,
        case.email,
        again=True,
    )
