"""The intake conversation: a state machine over the fields a complaint record needs.

What each step asks, and the summary, are worded in `bot.questions`.

`Intake.step` takes the current `Draft` and one thing the person did, and returns the
new draft and the replies. It does no I/O: files arrive already stored (as
`EvidenceRef`s), and the case is created by the caller when the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.answers import MAX_EXPECTATION, MAX_NAME, MAX_SUBJECT, Answers, clean
from bot.contact import normalise_phone
from bot.domain import Category
from bot.draft import DescriptionEdit, DescriptionPart, Draft, EvidenceRef, Step
from bot.i18n import Translator
from bot.messages import Reply
from bot.notice import PrivacyNotice
from bot.questions import Questions

SKIP_WORDS = frozenset({"skip", "no", "none", "done", "跳过", "没有", "无", "完成", "好了"})


@dataclass(frozen=True, slots=True)
class Text:
    message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Press:
    data: str


@dataclass(frozen=True, slots=True)
class SharedPhone:
    phone: str


@dataclass(frozen=True, slots=True)
class Files:
    message_id: str
    stored: tuple[EvidenceRef, ...]
    too_large: tuple[str, ...] = ()
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Edited:
    message_id: str
    text: str
    at: datetime


IntakeInput = Text | Press | SharedPhone | Files | Edited


@dataclass(slots=True)
class IntakeResult:
    draft: Draft | None
    replies: list[Reply] = field(default_factory=list)
    confirmed: bool = False


FIELD_ORDER = (
    Step.NAME,
    Step.CONTACT,
    Step.CATEGORY,
    Step.SUBJECT,
    Step.EVIDENCE,
    Step.EXPECTATION,
)


class Intake:
    """Asks for each field in turn, validates the answers, and ends with a summary."""

    def __init__(
        self, tr: Translator, phone_region: str = "CN", notice: PrivacyNotice | None = None
    ) -> None:
        self._ = tr.gettext
        self.ngettext = tr.ngettext
        self.phone_region = phone_region
        self.notice = notice or PrivacyNotice()
        self.ask = Questions(tr)
        self.answers = Answers(tr, phone_region)

    # ----- public --------------------------------------------------------------

    def begin(self, started_at: datetime, consent: str | None = None) -> IntakeResult:
        """A new draft, greeted with the privacy notice (whose version it remembers)
        before the first question; `consent` is the version already agreed to on the
        channel's own page, if any."""
        draft = Draft(
            step=Step.DESCRIPTION,
            started_at=started_at,
            notice_shown=self.notice.version,
            consent=consent,
        )
        return IntakeResult(draft, [self.ask.greeting(self.notice), self.ask.question(draft)])

    def cancel(self) -> IntakeResult:
        return IntakeResult(
            None,
            [
                Reply(
                    self._(
                        "Cancelled. Nothing was filed. Send a message at any time to start again."
                    )
                )
            ],
        )

    def step(self, draft: Draft, event: IntakeInput) -> IntakeResult:
        if isinstance(event, Edited):
            return self._on_edit(draft, event)
        if isinstance(event, Files):
            return self._on_files(draft, event)
        if isinstance(event, Press):
            return self._on_press(draft, event.data)
        if isinstance(event, SharedPhone):
            return self._on_shared_phone(draft, event.phone)
        return self._on_text(draft, event)

    def question(self, draft: Draft) -> Reply:
        """The question for the draft's current step (asked again after a restart or /start)."""
        return self.ask.question(draft)

    def category_label(self, category: Category) -> str:
        return self.ask.category_label(category)

    # ----- transitions ---------------------------------------------------------

    def _advance(self, draft: Draft, prefix: list[Reply] | None = None) -> IntakeResult:
        """Moves to the next unanswered field (or back to the summary when editing)."""
        replies = list(prefix or [])
        if draft.editing:
            draft.editing = False
            draft.step = Step.CONFIRM
        else:
            draft.step = self._next_step(draft)
        replies.append(self.ask.question(draft))
        return IntakeResult(draft, replies)

    @staticmethod
    def _next_step(draft: Draft) -> Step:
        answered = {
            Step.NAME: draft.name is not None,
            Step.CONTACT: draft.phone is not None or draft.email is not None,
            Step.CATEGORY: draft.category is not None,
            Step.SUBJECT: draft.subject is not None,
            Step.EVIDENCE: draft.evidence_done,
            Step.EXPECTATION: draft.expectation is not None,
        }
        for step in FIELD_ORDER:
            if not answered[step]:
                return step
        return Step.CONFIRM

    def _on_text(self, draft: Draft, event: Text) -> IntakeResult:
        _ = self._
        text = clean(event.text)
        step = draft.step
        if step in (Step.CONFIRM, Step.EDIT_FIELD, Step.CATEGORY) and text:
            if step is Step.CATEGORY:
                chosen = self._category_from_text(text)
                if chosen is not None:
                    draft.category = chosen
                    return self._advance(draft)
                return self._again(draft, _("Please choose one of the buttons."))
            return self._again(draft, _("Please use the buttons below."))
        if step is Step.EVIDENCE:
            if text.casefold() in SKIP_WORDS:
                draft.evidence_done = True
                return self._advance(draft)
            return self._again(
                draft, _("Please send photos or documents here, or press the button.")
            )
        if not text:
            return self._again(draft, _("That message is empty. Please write a few words."))
        if step in (Step.DESCRIPTION, Step.DESCRIPTION_MORE):
            draft.description.append(DescriptionPart(event.message_id, text))
            draft.step = Step.DESCRIPTION_MORE
            return IntakeResult(draft, [self.ask.question(draft)])
        if step is Step.CONTACT:
            return self._on_contact_text(draft, text)
        limit = {Step.NAME: MAX_NAME, Step.SUBJECT: MAX_SUBJECT}.get(step, MAX_EXPECTATION)
        answer = self.answers.text(text, limit, empty="")
        if not answer.ok:
            return self._again(draft, answer.problem or "")
        if step is Step.NAME:
            draft.name = answer.value
        elif step is Step.SUBJECT:
            draft.subject = answer.value
        else:
            draft.expectation = answer.value
        return self._advance(draft)

    def _on_contact_text(self, draft: Draft, text: str) -> IntakeResult:
        answer = self.answers.contact(text)
        if isinstance(answer, str):
            return self._again(draft, answer)
        if answer.phone:
            draft.phone = answer.phone
        if answer.email:
            draft.email = answer.email
        return self._advance(draft)

    def _on_shared_phone(self, draft: Draft, phone: str) -> IntakeResult:
        _ = self._
        valid = normalise_phone(phone, self.phone_region)
        if valid is None:
            return self._again(
                draft,
                _(
                    "The shared number {value} could not be used. Please type a phone number "
                    "or an email address."
                ).format(value=phone),
            )
        draft.phone = valid
        if draft.step is Step.CONTACT:
            return self._advance(draft)
        return IntakeResult(
            draft,
            [Reply(_("Phone number saved: {value}").format(value=valid)), self.ask.question(draft)],
        )

    def _on_files(self, draft: Draft, event: Files) -> IntakeResult:
        _ = self._
        draft.evidence.extend(event.stored)
        replies = [Reply(_("Received: {name}").format(name=ref.name)) for ref in event.stored]
        replies += [
            Reply(
                _(
                    "“{name}” is larger than 20 MB and could not be received here. Please send a "
                    "smaller file, or several smaller ones."
                ).format(name=name)
            )
            for name in event.too_large
        ]
        caption = clean(event.caption)
        if caption and draft.step in (Step.DESCRIPTION, Step.DESCRIPTION_MORE):
            draft.description.append(DescriptionPart(event.message_id, caption))
        if draft.step is Step.DESCRIPTION and draft.description:
            draft.step = Step.DESCRIPTION_MORE
        if draft.step is Step.EVIDENCE or draft.step is Step.DESCRIPTION_MORE or event.stored:
            replies.append(self.ask.question(draft))
        return IntakeResult(draft, replies)

    def _on_press(self, draft: Draft, data: str) -> IntakeResult:
        _ = self._
        step = draft.step
        if data == "desc:done" and step is Step.DESCRIPTION_MORE:
            return self._advance(draft)
        if data.startswith("cat:") and step is Step.CATEGORY:
            try:
                draft.category = Category(data.removeprefix("cat:"))
            except ValueError:
                return self._again(draft, _("Please choose one of the buttons."))
            return self._advance(draft)
        if data == "ev:done" and step is Step.EVIDENCE:
            draft.evidence_done = True
            return self._advance(draft)
        if step is Step.CONFIRM:
            if data == "confirm":
                return IntakeResult(draft, [], confirmed=True)
            if data == "edit":
                draft.step = Step.EDIT_FIELD
                return IntakeResult(draft, [self.ask.edit_menu()])
            if data == "cancel":
                return self.cancel()
        if step is Step.EDIT_FIELD and data.startswith("edit:"):
            return self._begin_edit(draft, data.removeprefix("edit:"))
        return self._again(draft, _("That button is no longer active."))

    def _begin_edit(self, draft: Draft, field_name: str) -> IntakeResult:
        if field_name == "back":
            draft.step = Step.CONFIRM
            return IntakeResult(draft, [self.ask.summary(draft)])
        try:
            target = Step(field_name)
        except ValueError:
            target = Step.CONFIRM
        if target not in (*FIELD_ORDER, Step.DESCRIPTION):
            draft.step = Step.CONFIRM
            return IntakeResult(draft, [self.ask.summary(draft)])
        draft.editing = True
        if target is Step.DESCRIPTION:
            # A new description replaces the old one; the old text stays in the message log.
            draft.description = []
        draft.step = target
        return IntakeResult(draft, [self.ask.question(draft)])

    def _on_edit(self, draft: Draft, event: Edited) -> IntakeResult:
        _ = self._
        new_text = clean(event.text)
        for part in draft.description:
            if part.message_id == event.message_id and new_text and new_text != part.text:
                draft.description_edits.append(
                    DescriptionEdit(event.message_id, part.text, new_text, event.at)
                )
                part.text = new_text
                return IntakeResult(
                    draft, [Reply(_("Your description was updated.")), self.ask.question(draft)]
                )
        return IntakeResult(
            draft,
            [
                Reply(
                    _(
                        "Your edit was recorded. To change an answer, use “Edit a field” on the summary."  # noqa: E501
                    )
                )
            ],
        )

    # ----- helpers -------------------------------------------------------------

    def _again(self, draft: Draft, problem: str) -> IntakeResult:
        return IntakeResult(draft, [Reply(problem), self.ask.question(draft)])

    def _category_from_text(self, text: str) -> Category | None:
        folded = text.casefold()
        for category in Category:
            if self.ask.category_label(category).casefold() == folded or category.value == folded:
                return category
        return None
