"""How the bot speaks to staff: the case's thread in the agents' group, and supervisors
or a case's handler privately.

The desk (agents' commands) and the follow-up (reminders, escalations, surveys) both
tell staff things; they share one `StaffNotices`, built first and handed to each, so
neither needs the other. Without an agents' group (`DeskConfig` absent) every notice
is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain import CaseStatus, Category
from bot.i18n import Translator
from bot.labels import category_label, status_label, verification_labels
from bot.messages import Attachment, Button, Outbound
from bot.ports import CaseRecord, CaseStore, Clock, ReplyQueue

MAX_TOPIC_NAME = 128


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """Where the desk is and who may work at it.

    `agent_ids` empty means every member of the group is an agent; supervisors are
    agents too.
    """

    channel: str
    conversation: str
    agent_ids: frozenset[str] = frozenset()
    supervisor_ids: frozenset[str] = frozenset()
    show_agent_names: bool = False

    def is_agent(self, sender_id: str) -> bool:
        if not self.agent_ids:
            return True
        return sender_id in self.agent_ids or sender_id in self.supervisor_ids


class _CasesAndReplies(CaseStore, ReplyQueue, Protocol):
    """The ports a card is posted through."""


class StaffNotices:
    """Posts and private notices to staff, in the desk's locale and time zone."""

    def __init__(
        self,
        config: DeskConfig | None,
        locale: str,
        timezone: ZoneInfo,
        clock: Clock,
        *,
        notices: bool = False,
    ) -> None:
        self.config = config or DeskConfig(channel="", conversation="")
        self.tr = Translator(locale)
        self.timezone = timezone
        self.clock = clock
        self.notices = notices
        # (case number, text) of each post to the group while a digest collects them.
        self.posted: list[tuple[str, str]] | None = None

    def as_notices(self) -> StaffNotices:
        """The same staff, told by the follow-up: what it posts are automated notices
        (reminders, escalations), queued behind the answers to people's own actions."""
        return StaffNotices(self.config, self.tr.locale, self.timezone, self.clock, notices=True)

    @property
    def active(self) -> bool:
        """Whether there is an agents' group to tell anything."""
        return bool(self.config.channel)

    async def case_opened(self, tx: _CasesAndReplies, case_no: str) -> None:
        """Posts the new case's card, opening its thread."""
        case = await tx.case(case_no)
        assert case is not None
        files = tuple(await tx.case_files(case))
        title = f"{case.case_no} · {self.category(case.category)} · {case.name}"
        await tx.enqueue(
            Outbound(
                channel=self.config.channel,
                conversation=self.config.conversation,
                text=self.card_text(case, len(files)),
                buttons=((Button(self.tr._("Claim"), f"desk:claim:{case.case_no}"),),),
                case_no=case.case_no,
                new_thread=title[:MAX_TOPIC_NAME],
                files=files,
            ),
            "desk_card",
            self.clock.now(),
        )

    async def post(
        self,
        tx: ReplyQueue,
        case: CaseRecord,
        text: str,
        files: tuple[Attachment, ...] = (),
        buttons: tuple[tuple[Button, ...], ...] = (),
    ) -> None:
        """Posts into the case's thread in the agents' group (if there is a group)."""
        if not self.active:
            return
        if self.posted is not None:
            self.posted.append((case.case_no, text))
        await tx.enqueue(
            Outbound(
                channel=self.config.channel,
                conversation=self.config.conversation,
                text=text,
                case_no=case.case_no,
                case_thread=True,
                files=files,
                buttons=buttons,
            ),
            "desk_post",
            self.clock.now(),
            notice=self.notices,
        )

    async def to_group(self, tx: ReplyQueue, text: str) -> None:
        """Posts into the agents' group itself, outside any case's thread."""
        if not self.active:
            return
        await tx.enqueue(
            Outbound(channel=self.config.channel, conversation=self.config.conversation, text=text),
            "desk_post",
            self.clock.now(),
            notice=self.notices,
        )

    async def privately(self, tx: ReplyQueue, who: str, text: str, kind: str) -> None:
        """A private message to one staff member, on the group's channel."""
        await tx.enqueue(
            Outbound(channel=self.config.channel, conversation=who, text=text),
            kind,
            self.clock.now(),
            notice=self.notices,
        )

    async def to_supervisors(self, tx: ReplyQueue, case: CaseRecord, notice: str) -> None:
        """Supervisors hear an escalation privately, with the case's card; one who never
        started the bot cannot be written to, and the failed delivery says so in the log."""
        for supervisor in sorted(self.config.supervisor_ids):
            await self.privately(
                tx, supervisor, notice + "\n" + self.card_text(case, 0), "desk_escalation"
            )

    def complainant_said(
        self, case: CaseRecord, text: str, files: int, edited_from: str | None = None
    ) -> str:
        _ = self.tr.gettext
        if edited_from is not None:
            return "\n".join(
                [
                    _("✏️ {name} edited a message.").format(name=case.name),
                    _("Before: {text}").format(text=edited_from),
                    _("After: {text}").format(text=text),
                ]
            )
        lines = [_("💬 {name}:").format(name=case.name)]
        if text:
            lines.append(text)
        if files:
            lines.append(
                self.tr.ngettext(
                    "({count} file attached)", "({count} files attached)", files
                ).format(count=files)
            )
        return "\n".join(lines)

    def card_text(self, case: CaseRecord, files: int) -> str:
        _ = self.tr.gettext
        lines = [
            _("🆕 Case {case_no}").format(case_no=case.case_no),
            _("Category: {value}").format(value=self.category(case.category)),
            _("Complainant: {value}").format(value=case.name),
            _("Phone: {value}").format(value=case.phone or "—"),
            _("Email: {value}").format(value=case.email or "—"),
            _("About: {value}").format(value=case.subject),
            _("What happened: {value}").format(value=case.description),
            _("Expected outcome: {value}").format(value=case.expectation),
            self.tr.ngettext("Evidence: {count} file", "Evidence: {count} files", files).format(
                count=files
            ),
            _("Received: {time}").format(time=self.local(case.received_at)),
            _("Respond by: {time}").format(
                time=self.local(case.response_due_at) if case.response_due_at else "—"
            ),
            _("Status: {status} · Handler: {handler}").format(
                status=self.status(case.status),
                handler=case.handler.name if case.handler else _("unassigned"),
            ),
        ]
        return "\n".join(lines)

    # ----- words and times as staff read them ------------------------------------------

    def category(self, category: Category) -> str:
        return category_label(category, self.tr.gettext)

    def status(self, status: CaseStatus) -> str:
        return status_label(status, self.tr.gettext)

    def verification_labels(self) -> dict[str, str]:
        return verification_labels(self.tr.gettext)

    def limit_name(self, limit: str) -> str:
        _ = self.tr.gettext
        return {
            "receipt": _("receipt"),
            "first_response": _("first response"),
            "resolution": _("resolution"),
        }[limit]

    def local(self, moment: datetime) -> str:
        return local_time(moment, self.timezone)


def local_time(moment: datetime, timezone: ZoneInfo) -> str:
    """A moment as people read it in `timezone`: `2026-03-02 14:30`."""
    return moment.astimezone(timezone).strftime("%Y-%m-%d %H:%M")
