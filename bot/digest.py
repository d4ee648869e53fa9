"""Deadline notices that pile up in the agents' group, digested into one message.

The group is one chat with Telegram's 20 messages a minute, of which automated notices
get two thirds (`delivery.dispatcher`). When one sweep leaves several notices for the
group, agents should not learn of the last one minutes later: one message listing the
cases goes into the group's "deadlines" thread at once (ahead of the notices), while
each case's thread still gets its own notice as the budget allows. The thread is opened
when the bot starts (a forum topic where the group has topics; else the digest is a
plain message in the group).
"""

from __future__ import annotations

from bot.messages import Outbound
from bot.ports import Clock, Repository
from bot.staff import StaffNotices

# Notices for the group in one sweep from which a digest is posted too.
DIGEST_FROM = 5
# A digest stays well inside one Telegram message.
_MAX_LINES = 40
_OPENER = "desk_deadlines"


class DeadlineDigest:
    """Collects what the follow-up posts to the group during a sweep (`notices`, the
    follow-up's `StaffNotices`) and posts the digest when the sweep ends."""

    def __init__(self, repository: Repository, notices: StaffNotices, clock: Clock) -> None:
        self.repository = repository
        self.notices = notices
        self.clock = clock
        self._sweeps = 0

    async def open_thread(self) -> None:
        """Opens the group's deadlines thread, once for the life of the database."""
        staff = self.notices
        if not staff.active:
            return
        group = staff.config
        async with self.repository.conversation(group.channel, group.conversation, "system") as tx:
            if await tx.thread_opened_by(_OPENER) is not None:
                return
            await tx.enqueue(
                Outbound(
                    channel=group.channel,
                    conversation=group.conversation,
                    text=staff.tr._(
                        "⏰ Deadlines: when many reminders and escalations are due at once, "
                        "a list of their cases appears here first."
                    ),
                    new_thread=staff.tr._("⏰ Deadlines"),
                ),
                _OPENER,
                self.clock.now(),
            )

    def begin(self) -> None:
        """A sweep starts (sweeps of one process may overlap: the last one out posts)."""
        if self._sweeps == 0:
            self.notices.posted = []
        self._sweeps += 1

    async def end(self) -> None:
        self._sweeps -= 1
        if self._sweeps:
            return
        posted, self.notices.posted = self.notices.posted or [], None
        if len(posted) >= DIGEST_FROM and self.notices.active:
            await self._post(posted)

    async def _post(self, posted: list[tuple[str, str]]) -> None:
        staff = self.notices
        group, tr = staff.config, staff.tr
        lines = [
            tr.ngettext(
                "⏰ {count} deadline notice for the cases below (each also in its case's thread):",
                "⏰ {count} deadline notices for the cases below (each also in its case's thread):",
                len(posted),
            ).format(count=len(posted))
        ]
        for case_no, text in posted[:_MAX_LINES]:
            first_line = text.splitlines()[0] if text else ""
            lines.append(
                f"• {first_line}" if case_no in first_line else f"• {case_no}: {first_line}"
            )
        if len(posted) > _MAX_LINES:
            more = len(posted) - _MAX_LINES
            lines.append(
                tr.ngettext("… and {count} more", "… and {count} more", more).format(count=more)
            )
        async with self.repository.conversation(group.channel, group.conversation, "system") as tx:
            opening = await tx.thread_opened_by(_OPENER)
            await tx.enqueue(
                Outbound(
                    channel=group.channel,
                    conversation=group.conversation,
                    text="\n".join(lines),
                    thread=opening.thread if opening else None,
                ),
                "desk_digest",
                self.clock.now(),
            )
