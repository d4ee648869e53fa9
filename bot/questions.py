"""What the intake says: the question for each step, the summary, the menus.

Pure wording, no state: `Intake` decides which step a draft is on; `Questions` says
what that step asks, in the person's language.
"""

from __future__ import annotations

from bot.domain import Category, suggest_category
from bot.draft import Draft, Step
from bot.i18n import Translator
from bot.labels import category_label
from bot.messages import Button, Reply
from bot.notice import PrivacyNotice, short_notice

# Echoes of long answers are cut so a summary always fits one chat message.
ECHO_LIMIT = 600


def echo(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "…"


class Questions:
    """The intake's words for one language."""

    def __init__(self, tr: Translator) -> None:
        self._ = tr.gettext
        self.ngettext = tr.ngettext

    def greeting(self, notice: PrivacyNotice) -> Reply:
        """The first words of an intake, with the privacy notice before any question."""
        _ = self._
        hello = _(
            "Hello! This is the complaint service. I will ask a few questions so that your "
            "complaint is recorded completely, then give you a case number."
        )
        return Reply(f"{hello}\n\n{short_notice(_, notice)}")

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
            return self.category_question(draft)
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
        return self.edit_menu()

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
            self.ngettext(
                "Evidence: {count} file", "Evidence: {count} files", len(draft.evidence)
            ).format(count=len(draft.evidence)),
            _("Expected outcome: {value}").format(value=echo(draft.expectation or none)),
        ]
        buttons = (
            (Button(_("Confirm"), "confirm"),),
            (Button(_("Edit a field"), "edit"), Button(_("Cancel"), "cancel")),
        )
        return Reply("\n".join(lines), buttons)

    def category_question(self, draft: Draft) -> Reply:
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

    def edit_menu(self) -> Reply:
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
