"""The intake conversation: a state machine over the fields a complaint record needs.

`Intake.step` takes the current `Draft` and one thing the person did, and returns the
new draft and the replies. It does no I/O: files arrive already stored (as
`EvidenceRef`s), and the case is created by the caller when the result says so.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from bot.contact import normalise_phone, parse_contact
from bot.domain import Category, suggest_category
from bot.draft import DescriptionEdit, DescriptionPart, Draft, EvidenceRef, Step
from bot.i18n import Translator
from bot.labels import category_label
from bot.messages import Button, Reply

MAX_NAME = 100
MAX_SUBJECT = 300
MAX_EXPECTATION = 2000
# Echoes of long answers are cut so a summary always fits one chat message.
ECHO_LIMIT = 600

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


def clean(text: str) -> str:
    """Text without surrounding blanks; invisible format characters alone count as empty."""
    stripped = text.strip()
    visible = "".join(ch for ch in stripped if unicodedata.category(ch) not in ("Cf", "Zs", "Cc"))
    return stripped if visible else ""


def echo(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "…"


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

    def __init__(self, tr: Translator, phone_region: str = "CN") -> None:
        self._ = tr.gettext
        self.phone_region = phone_region

    # ----- public --------------------------------------------------------------

    def begin(self, started_at: datetime) -> IntakeResult:
        draft = Draft(step=Step.DESCRIPTION, started_at=started_at)
        return IntakeResult(draft, [self.greeting(), self.question(draft)])

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

    def greeting(self) -> Reply:
        _ = self._
        return Reply(
            _(
                "Hello! This is the complaint service. I will ask a few questions so that your "
                "complaint is recorded completely, then give you a case number."
            )
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
        _ = self._
        step = draft.step
        if step is Step.DESCRIPTION:
            return Reply(
                _(
                    "Please describe what happened, in your own words. You can send several "
                    "messages, and photos or documents too."
                )
            )
        if step is Step.DESCRIPTION_MORE:
            return Reply(
                _("Noted. Add more if you like, then press Continue."),
                ((Button(_("Continue"), "desc:done"),),),
            )
        if step is Step.NAME:
            return Reply(_("What is your name, or the name of your organisation?"))
        if step is Step.CONTACT:
            return Reply(
                _(
                    "How can we reach you? Send a mobile phone number or an email address "
                    "(or both), or tap “Share my phone number”."
                ),
                contact_button=_("Share my phone number"),
            )
        if step is Step.CATEGORY:
            return self._category_question(draft)
        if step is Step.SUBJECT:
            return Reply(
                _(
                    "Which company, product or service is your complaint about? For a licence "
                    "matter, give the registered entity or its filing number."
                )
            )
        if step is Step.EVIDENCE:
            if draft.evidence:
                return Reply(
                    _("Send more files, or press Done."),
                    ((Button(_("Done"), "ev:done"),),),
                )
            return Reply(
                _(
                    "Do you have evidence, such as screenshots, emails, text messages or "
                    "documents? Send them now as photos or files, or press Skip."
                ),
                ((Button(_("Skip"), "ev:done"),),),
            )
        if step is Step.EXPECTATION:
            return Reply(
                _(
                    "What outcome do you expect? For example: a refund, a correction, an "
                    "explanation."
                )
            )
        if step is Step.CONFIRM:
            return self.summary(draft)
        return self._edit_menu()

    def category_label(self, category: Category) -> str:
        return category_label(category, self._)

    def summary(self, draft: Draft) -> Reply:
        _ = self._
        none = _("(none)")
        lines = [
            _("Please check your complaint:"),
            "",
            _("Name: {value}").format(value=echo(draft.name or none)),
            _("Phone: {value}").format(value=draft.phone or none),
            _("Email: {value}").format(value=draft.email or none),
            _("Category: {value}").format(
                value=self.category_label(draft.category) if draft.category else none
            ),
            _("About: {value}").format(value=echo(draft.subject or none)),
            _("What happened: {value}").format(value=echo(draft.description_text or none)),
            _("Evidence: {count} file(s)").format(count=len(draft.evidence)),
            _("Expected outcome: {value}").format(value=echo(draft.expectation or none)),
        ]
        buttons = (
            (Button(_("Confirm"), "confirm"),),
            (Button(_("Edit a field"), "edit"), Button(_("Cancel"), "cancel")),
        )
        return Reply("\n".join(lines), buttons)

    # ----- transitions ---------------------------------------------------------

    def _advance(self, draft: Draft, prefix: list[Reply] | None = None) -> IntakeResult:
        """Moves to the next unanswered field (or back to the summary when editing)."""
        replies = list(prefix or [])
        if draft.editing:
            draft.editing = False
            draft.step = Step.CONFIRM
        else:
            draft.step = self._next_step(draft)
        replies.append(self.question(draft))
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
            return IntakeResult(draft, [self.question(draft)])
        if step is Step.NAME:
            if len(text) > MAX_NAME:
                return self._again(draft, self._too_long(MAX_NAME))
            draft.name = text
            return self._advance(draft)
        if step is Step.CONTACT:
            return self._on_contact_text(draft, text)
        if step is Step.SUBJECT:
            if len(text) > MAX_SUBJECT:
                return self._again(draft, self._too_long(MAX_SUBJECT))
            draft.subject = text
            return self._advance(draft)
        if len(text) > MAX_EXPECTATION:
            return self._again(draft, self._too_long(MAX_EXPECTATION))
        draft.expectation = text
        return self._advance(draft)

    def _on_contact_text(self, draft: Draft, text: str) -> IntakeResult:
        _ = self._
        answer = parse_contact(text, self.phone_region)
        if not answer.usable:
            bad = answer.rejected[0] if answer.rejected else text
            return self._again(
                draft,
                _(
                    "“{value}” is not a valid phone number or email address. Please send a "
                    "phone number such as 13812345678 or an email such as name@example.com."
                ).format(value=echo(bad)),
            )
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
            [Reply(_("Phone number saved: {value}").format(value=valid)), self.question(draft)],
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
            replies.append(self.question(draft))
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
                return IntakeResult(draft, [self._edit_menu()])
            if data == "cancel":
                return self.cancel()
        if step is Step.EDIT_FIELD and data.startswith("edit:"):
            return self._begin_edit(draft, data.removeprefix("edit:"))
        return self._again(draft, _("That button is no longer active."))

    def _begin_edit(self, draft: Draft, field_name: str) -> IntakeResult:
        if field_name == "back":
            draft.step = Step.CONFIRM
            return IntakeResult(draft, [self.summary(draft)])
        try:
            target = Step(field_name)
        except ValueError:
            target = Step.CONFIRM
        if target not in (*FIELD_ORDER, Step.DESCRIPTION):
            draft.step = Step.CONFIRM
            return IntakeResult(draft, [self.summary(draft)])
        draft.editing = True
        if target is Step.DESCRIPTION:
            # A new description replaces the old one; the old text stays in the message log.
            draft.description = []
        draft.step = target
        return IntakeResult(draft, [self.question(draft)])

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
                    draft, [Reply(_("Your description was updated.")), self.question(draft)]
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
        return IntakeResult(draft, [Reply(problem), self.question(draft)])

    def _too_long(self, limit: int) -> str:
        return self._("That is longer than {limit} characters. Please shorten it.").format(
            limit=limit
        )

    def _category_question(self, draft: Draft) -> Reply:
        _ = self._
        suggestion = suggest_category(draft.description_text)
        categories = list(Category)
        if suggestion is not None:
            categories.remove(suggestion)
            categories.insert(0, suggestion)
            text = _(
                "What kind of request is this? It sounds like “{category}”; press it to "
                "agree, or choose another."
            ).format(category=self.category_label(suggestion))
        else:
            text = _("What kind of request is this?")
        buttons = tuple(
            (Button(self.category_label(category), f"cat:{category.value}"),)
            for category in categories
        )
        return Reply(text, buttons)

    def _category_from_text(self, text: str) -> Category | None:
        folded = text.casefold()
        for category in Category:
            if self.category_label(category).casefold() == folded or category.value == folded:
                return category
        return None

    def _edit_menu(self) -> Reply:
        _ = self._
        fields = (
            (Step.NAME, _("Name")),
            (Step.CONTACT, _("Contact")),
            (Step.CATEGORY, _("Category")),
            (Step.SUBJECT, _("About")),
            (Step.DESCRIPTION, _("What happened")),
            (Step.EVIDENCE, _("Evidence")),
            (Step.EXPECTATION, _("Expected outcome")),
        )
        rows = [
            tuple(Button(label, f"edit:{step.value}") for step, label in fields[i : i + 2])
            for i in range(0, len(fields), 2)
        ]
        rows.append((Button(_("Back to summary"), "edit:back"),))
        return Reply(_("Which field do you want to change?"), tuple(rows))
