"""The complainant's commands: /start /new /help /cancel /status /language.

Also the language buttons /language offers, and the command menu a channel shows.
The agents' commands belong to the desk; typed in a private chat they are refused.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from bot.conversation import ChatTurn
from bot.desk import AGENT_COMMANDS
from bot.domain import CaseStatus, looks_like_case_no
from bot.i18n import SUPPORTED_LOCALES, Translator
from bot.messages import Button, Inbound, InboundKind, Reply
from bot.ports import CaseView
from bot.staff import local_time

log = logging.getLogger(__name__)

COMMANDS = ("start", "help", "new", "cancel", "status", "language")
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
_LANGUAGE_BUTTON = "lang:"


class Commands:
    """Answers the complainant's commands; `owns` says which messages are theirs."""

    def __init__(self, timezone: ZoneInfo, default_locale: str) -> None:
        self.timezone = timezone
        self.default_locale = default_locale

    @staticmethod
    def owns(inbound: Inbound) -> bool:
        """A command, or a press of a language button."""
        return inbound.kind is InboundKind.COMMAND or (
            inbound.kind is InboundKind.BUTTON
            and (inbound.button_data or "").startswith(_LANGUAGE_BUTTON)
        )

    async def handle(self, turn: ChatTurn) -> None:
        inbound = turn.inbound
        if inbound.kind is InboundKind.BUTTON:
            self._set_language(turn, (inbound.button_data or "").removeprefix(_LANGUAGE_BUTTON))
            return
        command, args = (inbound.command or "").lower(), inbound.command_args.strip()
        _ = turn.tr.gettext
        draft = turn.state.draft
        if command in ("start", "new"):
            if draft is not None:
                turn.say(
                    Reply(
                        _(
                            "You have a complaint in progress; let us continue where we stopped. "
                            "Send /cancel to discard it."
                        )
                    ),
                    turn.intake.question(draft),
                )
            else:
                started = turn.begin_intake()
                turn.state.draft = started.draft
                turn.say(*started.replies)
        elif command == "help":
            turn.say(Reply(_help(turn.tr)))
        elif command == "cancel":
            if draft is None:
                turn.say(Reply(_("There is nothing to cancel.")))
            else:
                cancelled = turn.intake.cancel()
                turn.state.draft = cancelled.draft
                turn.say(*cancelled.replies)
        elif command == "status":
            await self._status(turn, args)
        elif command == "language":
            turn.say(
                Reply(
                    _("Choose your language:"),
                    (
                        tuple(
                            Button(name, f"{_LANGUAGE_BUTTON}{code}")
                            for code, name in LANGUAGE_NAMES.items()
                        ),
                    ),
                )
            )
        elif command in AGENT_COMMANDS:
            log.warning(
                "agent command /%s refused in a private chat (sender %s)",
                command,
                inbound.sender_id,
            )
            turn.say(Reply(_("This command is only for agents, in the agents' group.")))
        else:
            turn.say(Reply(_("Unknown command. Send /help to see what I can do.")))
            if draft is not None:
                turn.say(turn.intake.question(draft))

    def menu(self) -> dict[str, list[tuple[str, str]]]:
        """Command descriptions per language code, for a channel's command menu."""
        menu: dict[str, list[tuple[str, str]]] = {}
        for code, locale in (("zh", "zh_CN"), ("en", "en"), ("", self.default_locale)):
            _ = Translator(locale).gettext
            menu[code] = [
                ("new", _("File a new complaint")),
                ("status", _("See your cases")),
                ("cancel", _("Discard the complaint you are filing")),
                ("language", _("Choose 中文 or English")),
                ("help", _("Help")),
            ]
        return menu

    async def _status(self, turn: ChatTurn, args: str) -> None:
        _ = turn.tr.gettext
        cases = await turn.tx.own_cases()
        if args:
            wanted = args.split()[0].upper()
            found = [case for case in cases if case.case_no == wanted]
            if not found or not looks_like_case_no(wanted):
                # The same answer whether the number exists or not: reveal nothing.
                turn.say(
                    Reply(
                        _("No case {case_no} was found among your cases.").format(
                            case_no=args.split()[0]
                        )
                    )
                )
                return
            turn.say(Reply(self._case_details(turn, found[0])))
            return
        if not cases:
            turn.say(Reply(_("You have no cases yet. Send a message to file a complaint.")))
            return
        lines = [_("Your cases:")]
        lines += [_case_line(turn, case) for case in cases[:20]]
        turn.say(Reply("\n".join(lines)))

    def _case_details(self, turn: ChatTurn, case: CaseView) -> str:
        _ = turn.tr.gettext
        lines = [
            _("Case number: {case_no}").format(case_no=case.case_no),
            _("Status: {status}").format(status=status_label(turn.tr, case.status)),
            _("Category: {category}").format(category=turn.intake.category_label(case.category)),
            _("About: {value}").format(value=case.subject),
            _("Received: {time}").format(time=local_time(case.received_at, self.timezone)),
        ]
        if case.response_due_at is not None:
            lines.append(
                _("We will respond by {time} ({zone}).").format(
                    time=local_time(case.response_due_at, self.timezone), zone=self.timezone.key
                )
            )
        return "\n".join(lines)

    def _set_language(self, turn: ChatTurn, code: str) -> None:
        if code not in SUPPORTED_LOCALES:
            turn.say(Reply(turn.tr._("That button is no longer active.")))
            return
        turn.speak(code)
        turn.say(Reply(turn.tr._("Language set to English.")))
        if turn.state.draft is not None:
            turn.say(turn.intake.question(turn.state.draft))


def _help(tr: Translator) -> str:
    _ = tr.gettext
    return "\n".join(
        [
            _("Send a message describing your problem to file a complaint. Commands:"),
            _("/new – file a new complaint"),
            _("/status – your cases; /status CASE_NO – one case"),
            _("/cancel – discard the complaint you are filing"),
            _("/language – choose 中文 or English"),
            _("/help – this help"),
        ]
    )


def _case_line(turn: ChatTurn, case: CaseView) -> str:
    return f"{case.case_no} · {turn.intake.category_label(case.category)} · " + status_label(
        turn.tr, case.status
    )


def status_label(tr: Translator, status: CaseStatus) -> str:
    """The status in the complainant's words (the chat's /status, the status page)."""
    _ = tr.gettext
    labels = {
        CaseStatus.NEW: _("new"),
        CaseStatus.ACKNOWLEDGED: _("received, awaiting an agent"),
        CaseStatus.IN_PROGRESS: _("in progress"),
        CaseStatus.AWAITING_USER: _("waiting for your information"),
        CaseStatus.RESOLVED: _("resolved"),
        CaseStatus.REOPENED: _("reopened"),
        CaseStatus.ARCHIVED: _("closed"),
    }
    return labels[status]
