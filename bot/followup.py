"""Follow-up in time: deadlines, reminders, escalations, progress notices, surveys.

The `Timekeeper` plans a case's timers when something changes (created, category
changed, waiting for the complainant, resolved, reopened, extended) and acts when a
sweep finds a timer due. A timer is re-checked when it fires: a reminder for a first
response that has already happened is dropped, not sent. Staff notices go out in
working hours only (unless the calendar is round the clock).

Satisfaction callback: some time after each resolution the complainant is asked for a
1–5 rating. At or above the threshold the case is archived; below it the case is
reopened and escalated. No answer: one reminder, then archived as "no answer".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.desk import Desk
from bot.domain import CaseStatus, Category
from bot.i18n import Translator
from bot.messages import Button, Outbound
from bot.ports import CaseRecord, Clock, ConversationTx, SurveyRecord, TimerRecord
from scheduler.calendar import AlwaysOpen, Calendar, Duration
from scheduler.sla import (
    LIMITS,
    Deadlines,
    SlaPolicy,
    deadlines,
    describe,
    limit_timers,
    load_policy,
)

log = logging.getLogger(__name__)

SCORES = range(1, 6)
_DIGIT = re.compile(r"^\s*([1-5１-５])\s*[.。!！]?\s*$")
# Timers that only record or archive; everything else speaks to someone and waits for
# working hours.
_SILENT_KINDS = ("survey_expire",)


@dataclass(frozen=True, slots=True)
class FollowUpConfig:
    policy: SlaPolicy = field(default_factory=load_policy)
    calendar: Calendar = field(default_factory=AlwaysOpen)
    survey_delay: timedelta = timedelta(days=1)
    survey_reminder: timedelta = timedelta(days=2)
    auto_archive: timedelta = timedelta(days=7)
    satisfied_threshold: int = 4


def parse_rating(text: str) -> int | None:
    """A rating typed as text: one digit 1–5 (full-width digits too), nothing else."""
    match = _DIGIT.match(text)
    if match is None:
        return None
    return int(match.group(1).translate(str.maketrans("１２３４５", "12345")))


class Timekeeper:
    def __init__(
        self, config: FollowUpConfig, desk: Desk | None, timezone: ZoneInfo, clock: Clock
    ) -> None:
        self.config = config
        self.desk = desk
        self.timezone = timezone
        self.clock = clock

    # ----- planning --------------------------------------------------------------------

    def plan(
        self, category: Category, received_at: datetime
    ) -> tuple[Deadlines, list[tuple[str, datetime]]]:
        """The deadlines of a case received at `received_at`, and their timers."""
        policy = self.config.policy[category]
        due = deadlines(policy, self.config.calendar, received_at)
        timers: list[tuple[str, datetime]] = []
        for limit in LIMITS:
            timers += limit_timers(policy, self.config.calendar, limit, received_at, due.of(limit))
        if policy.quiet_notice is not None:
            timers.append(("quiet", self.config.calendar.add(received_at, policy.quiet_notice)))
        return due, timers

    async def category_changed(self, tx: ConversationTx, case: CaseRecord, actor: str) -> None:
        """Deadlines follow the new category, counted from when the case was received."""
        due, timers = self.plan(case.category, case.received_at)
        case.receipt_due_at = due.receipt
        case.response_due_at = due.first_response
        case.resolution_due_at = due.resolution
        pending = [
            (kind, at)
            for kind, at in timers
            if not (kind.endswith("first_response") or ":first_response:" in kind)
            or case.first_response_at is None
        ]
        await tx.set_timers(case, [], replacing="remind:")
        await tx.set_timers(case, [], replacing="escalate:")
        await tx.set_timers(case, [], replacing="quiet")
        await tx.set_timers(case, pending)
        await tx.add_event(
            case, self.clock.now(), actor, "deadlines_set", self._deadline_payload(case)
        )

    async def extend(
        self, tx: ConversationTx, case: CaseRecord, by: Duration, reason: str, actor: str
    ) -> datetime:
        """An agent's explicit extension of the resolution deadline."""
        assert case.resolution_due_at is not None
        before = case.resolution_due_at
        case.resolution_due_at = self.config.calendar.add(before, by)
        await self._rearm(tx, case, "resolution", self.clock.now(), case.resolution_due_at)
        await tx.add_event(
            case,
            self.clock.now(),
            actor,
            "deadline_extended",
            {
                "limit": "resolution",
                "from": before.isoformat(),
                "to": case.resolution_due_at.isoformat(),
                "by": str(by),
                "reason": reason,
            },
        )
        return case.resolution_due_at

    async def waiting_for_complainant(self, tx: ConversationTx, case: CaseRecord) -> None:
        if not self.config.policy[case.category].pause_while_awaiting_user:
            return
        if case.clock_paused_at is None:
            case.clock_paused_at = self.clock.now()
            await tx.set_timers(case, [], replacing="remind:resolution")
            await tx.set_timers(case, [], replacing="escalate:resolution")

    async def complainant_answered(self, tx: ConversationTx, case: CaseRecord) -> None:
        """The clock runs again; the resolution deadline moves by the time it stood still."""
        paused_at, now = case.clock_paused_at, self.clock.now()
        if paused_at is None or case.resolution_due_at is None:
            return
        case.clock_paused_at = None
        span = self.config.policy[case.category].resolution
        calendar = self.config.calendar
        stood = calendar.working_between(paused_at, now) if span.working else now - paused_at
        before = case.resolution_due_at
        case.resolution_due_at = calendar.add(before, Duration(stood, working=span.working))
        await self._rearm(tx, case, "resolution", now, case.resolution_due_at)
        await tx.add_event(
            case,
            now,
            "system",
            "clock_resumed",
            {
                "paused_at": paused_at.isoformat(),
                "paused_for": describe(stood),
                "resolution_due_at": case.resolution_due_at.isoformat(),
            },
        )

    async def resolved(self, tx: ConversationTx, case: CaseRecord) -> None:
        """Every resolution gets its own survey, some time later."""
        now = self.clock.now()
        await tx.set_timers(case, [], replacing="remind:")
        await tx.set_timers(case, [], replacing="escalate:")
        await tx.set_timers(case, [], replacing="survey")
        survey = await tx.new_survey(case, now)
        await tx.set_timers(case, [("survey", now + self.config.survey_delay)])
        log.info("case %s: survey %s planned", case.case_no, survey.round)

    async def reopened(self, tx: ConversationTx, case: CaseRecord, actor: str) -> None:
        """A reopened case gets a fresh resolution limit, counted from the reopening."""
        now = self.clock.now()
        case.reopened_count += 1
        case.clock_paused_at = None
        await tx.set_timers(case, [], replacing="survey")
        policy = self.config.policy[case.category]
        case.resolution_due_at = self.config.calendar.add(now, policy.resolution)
        await self._rearm(tx, case, "resolution", now, case.resolution_due_at)
        await tx.add_event(case, now, actor, "deadlines_set", self._deadline_payload(case))

    async def _rearm(
        self, tx: ConversationTx, case: CaseRecord, limit: str, start: datetime, due: datetime
    ) -> None:
        policy = self.config.policy[case.category]
        await tx.set_timers(case, [], replacing=f"remind:{limit}")
        await tx.set_timers(
            case,
            [
                (kind, at)
                for kind, at in limit_timers(policy, self.config.calendar, limit, start, due)
                if at > start or kind.startswith("escalate:")
            ],
            replacing=f"escalate:{limit}",
        )

    def _deadline_payload(self, case: CaseRecord) -> dict[str, str | None]:
        return {
            "category": case.category.value,
            "receipt": _iso(case.receipt_due_at),
            "first_response": _iso(case.response_due_at),
            "resolution": _iso(case.resolution_due_at),
        }

    # ----- firing ------------------------------------------------------------------------

    async def fire(self, tx: ConversationTx, case: CaseRecord, timer: TimerRecord) -> None:
        """Acts on one due timer, once: it ends fired, dropped, or moved to working hours."""
        now = self.clock.now()
        calendar = self.config.calendar
        if timer.kind not in _SILENT_KINDS and not calendar.is_working(now):
            if await self._still_relevant(tx, case, timer):
                await tx.move_timer(timer, calendar.next_working(now))
            else:
                await tx.finish_timer(timer, now, fired=False)
            return
        if not await self._still_relevant(tx, case, timer):
            await tx.finish_timer(timer, now, fired=False)
            return
        kind = timer.kind
        if kind.startswith("remind:"):
            await self._remind(tx, case, kind.split(":")[1], timer)
        elif kind.startswith("escalate:"):
            await self._escalate(tx, case, kind.split(":")[1], timer)
        elif kind == "quiet":
            await self._quiet(tx, case)
        elif kind == "survey":
            await self._ask(tx, case)
        elif kind == "survey_remind":
            await self._remind_survey(tx, case)
        elif kind == "survey_expire":
            await self._expire_survey(tx, case)
        else:
            log.warning("case %s: unknown timer kind %r dropped", case.case_no, kind)
            await tx.finish_timer(timer, now, fired=False)
            return
        await tx.finish_timer(timer, now, fired=True)

    async def _still_relevant(
        self, tx: ConversationTx, case: CaseRecord, timer: TimerRecord
    ) -> bool:
        kind, status = timer.kind, case.status
        open_ = status in (
            CaseStatus.ACKNOWLEDGED,
            CaseStatus.IN_PROGRESS,
            CaseStatus.AWAITING_USER,
            CaseStatus.REOPENED,
        )
        if kind.startswith(("remind:", "escalate:")):
            limit = kind.split(":")[1]
            due = _deadline(case, limit)
            if kind.startswith("remind:") and (due is None or due <= self.clock.now()):
                return False  # too late to remind: the escalation speaks now
            if limit == "receipt":
                return case.receipt_sent_at is None and status is not CaseStatus.ARCHIVED
            if limit == "first_response":
                return open_ and case.first_response_at is None
            return open_ and case.clock_paused_at is None
        if kind == "quiet":
            return open_ and case.status is not CaseStatus.AWAITING_USER
        survey = await tx.latest_survey(case)
        if status is not CaseStatus.RESOLVED or survey is None or survey.outcome is not None:
            return False
        if kind == "survey":
            return survey.asked_at is None
        return survey.awaiting_answer

    async def _remind(
        self, tx: ConversationTx, case: CaseRecord, limit: str, timer: TimerRecord
    ) -> None:
        due = _deadline(case, limit)
        assert due is not None
        now = self.clock.now()
        await tx.add_event(
            case, now, "system", "reminder", {"limit": limit, "due_at": due.isoformat()}
        )
        if self.desk is None:
            return
        _ = self.desk.tr.gettext
        text = _("⏰ {case_no}: {limit} due in {left} (by {time}).").format(
            case_no=case.case_no,
            limit=self._limit_name(limit),
            left=describe(due - now),
            time=self._local(due),
        )
        await self.desk.post(tx, case, text)
        if case.handler is not None and case.handler.channel == self.desk.config.channel:
            await self._to_staff(tx, case, case.handler.external_id, text, "desk_reminder")

    async def _escalate(
        self, tx: ConversationTx, case: CaseRecord, limit: str, timer: TimerRecord
    ) -> None:
        due = _deadline(case, limit)
        assert due is not None
        now = self.clock.now()
        case.escalated_at = now
        await tx.save_case(case)
        await tx.add_event(
            case, now, "system", "deadline_missed", {"limit": limit, "due_at": due.isoformat()}
        )
        if self.desk is None:
            return
        _ = self.desk.tr.gettext
        text = _("🚨 {case_no} missed its {limit} deadline ({time}); supervisors are told.").format(
            case_no=case.case_no, limit=self._limit_name(limit), time=self._local(due)
        )
        await self.desk.post(tx, case, text)
        for supervisor in sorted(self.desk.config.supervisor_ids):
            await self._to_staff(
                tx, case, supervisor, text + "\n" + self.desk.card_text(case, 0), "desk_escalation"
            )

    async def _quiet(self, tx: ConversationTx, case: CaseRecord) -> None:
        policy = self.config.policy[case.category]
        assert policy.quiet_notice is not None
        now = self.clock.now()
        calendar = self.config.calendar
        last = await tx.last_contact(case) or case.received_at
        due = calendar.add(last, policy.quiet_notice)
        if due > now:
            await tx.set_timers(case, [("quiet", due)])
            return
        tr = Translator(case.locale)
        lines = [
            tr._("Your complaint {case_no} is still being handled.").format(case_no=case.case_no)
        ]
        if case.resolution_due_at is not None:
            lines.append(
                tr._("We will resolve it by {time} ({zone}).").format(
                    time=self._local(case.resolution_due_at), zone=self.timezone.key
                )
            )
        await self._to_complainant(tx, case, "\n".join(lines), "progress_notice")
        await tx.add_event(case, now, "system", "progress_notice", {})
        await tx.set_timers(case, [("quiet", calendar.add(now, policy.quiet_notice))])

    # ----- the satisfaction callback ---------------------------------------------------

    async def _ask(self, tx: ConversationTx, case: CaseRecord) -> None:
        survey = await tx.latest_survey(case)
        assert survey is not None
        now = self.clock.now()
        survey.asked_at = now
        await tx.save_survey(case, survey)
        await self._send_survey(tx, case, reminder=False)
        await tx.add_event(case, now, "system", "survey_sent", {"round": survey.round})
        await tx.set_timers(
            case,
            [
                ("survey_remind", now + self.config.survey_reminder),
                ("survey_expire", now + self.config.auto_archive),
            ],
        )

    async def _remind_survey(self, tx: ConversationTx, case: CaseRecord) -> None:
        survey = await tx.latest_survey(case)
        assert survey is not None
        if survey.reminded_at is not None:
            return
        survey.reminded_at = self.clock.now()
        await tx.save_survey(case, survey)
        await self._send_survey(tx, case, reminder=True)
        await tx.add_event(
            case, self.clock.now(), "system", "survey_reminded", {"round": survey.round}
        )

    async def _send_survey(self, tx: ConversationTx, case: CaseRecord, reminder: bool) -> None:
        tr = Translator(case.locale)
        first = (
            tr._("A reminder: how satisfied are you with how we handled {case_no}?")
            if reminder
            else tr._("How satisfied are you with how we handled your complaint {case_no}?")
        )
        text = "\n".join(
            [
                first.format(case_no=case.case_no),
                tr._("Reply with a digit from 1 to 5: 1 very dissatisfied … 5 very satisfied."),
                tr._("A comment is welcome on the lines below the digit."),
            ]
        )
        labels = {
            1: tr._("1 very dissatisfied"),
            2: tr._("2 dissatisfied"),
            3: tr._("3 neutral"),
            4: tr._("4 satisfied"),
            5: tr._("5 very satisfied"),
        }
        buttons = tuple(
            (Button(labels[score], f"rate:{case.case_no}:{score}"),) for score in SCORES
        )
        await self._to_complainant(tx, case, text, "survey", buttons)

    async def _expire_survey(self, tx: ConversationTx, case: CaseRecord) -> None:
        survey = await tx.latest_survey(case)
        assert survey is not None
        survey.outcome = "no_answer"
        await tx.save_survey(case, survey)
        await self._archive(tx, case, "system", "no_answer")
        if self.desk is not None:
            await self.desk.post(
                tx,
                case,
                self.desk.tr._("🗄 {case_no} archived: the survey had no answer.").format(
                    case_no=case.case_no
                ),
            )
        log.info("case %s archived without an answer to survey %s", case.case_no, survey.round)

    async def rate(
        self,
        tx: ConversationTx,
        case: CaseRecord,
        survey: SurveyRecord,
        score: int,
        comment: str = "",
    ) -> list[str]:
        """The complainant's rating, with the comment given with it if any; returns what
        they are told (a comment is invited when none came)."""
        answers = await self._rate(tx, case, survey, score)
        if not comment:
            return answers
        await self.comment(tx, case, survey, comment)
        return answers[:1]

    async def _rate(
        self, tx: ConversationTx, case: CaseRecord, survey: SurveyRecord, score: int
    ) -> list[str]:
        now = self.clock.now()
        actor = f"complainant:{case.complainant_id}"
        survey.score, survey.answered_at = score, now
        satisfied = score >= self.config.satisfied_threshold
        survey.outcome = "satisfied" if satisfied else "unsatisfied"
        await tx.save_survey(case, survey)
        await tx.set_timers(case, [], replacing="survey_")
        await tx.add_event(
            case, now, actor, "survey_answered", {"round": survey.round, "score": score}
        )
        tr = Translator(case.locale)
        invite = tr._("If you like, write a comment now; it goes to your case file.")
        if satisfied:
            await self._archive(tx, case, actor, "satisfied")
            if self.desk is not None:
                await self.desk.post(
                    tx,
                    case,
                    self.desk.tr._("⭐ {case_no} rated {score}/5 and archived.").format(
                        case_no=case.case_no, score=score
                    ),
                )
            return [tr._("Thank you for your rating ({score}/5).").format(score=score), invite]
        await tx.add_event(
            case, now, actor, "status_changed", {"from": case.status, "to": "reopened"}
        )
        case.status = CaseStatus.REOPENED
        case.resolved_at = None
        await tx.add_event(case, now, actor, "reopened", {"reason": f"survey score {score}"})
        await self.reopened(tx, case, actor)
        case.escalated_at = now
        await tx.save_case(case)
        await tx.add_event(case, now, actor, "escalated", {"reason": f"survey score {score}"})
        if self.desk is not None:
            text = self.desk.tr._(
                "⚠️ {case_no} rated {score}/5: reopened and escalated to the supervisors."
            ).format(case_no=case.case_no, score=score)
            await self.desk.post(tx, case, text)
            for supervisor in sorted(self.desk.config.supervisor_ids):
                await self._to_staff(
                    tx,
                    case,
                    supervisor,
                    text + "\n" + self.desk.card_text(case, 0),
                    "desk_escalation",
                )
        return [
            tr._(
                "We are sorry we did not do better. Your complaint {case_no} has been reopened "
                "and a supervisor will follow it up."
            ).format(case_no=case.case_no),
            invite,
        ]

    async def comment(
        self, tx: ConversationTx, case: CaseRecord, survey: SurveyRecord, text: str
    ) -> None:
        survey.comment = text
        await tx.save_survey(case, survey)
        await tx.add_event(
            case,
            self.clock.now(),
            f"complainant:{case.complainant_id}",
            "survey_comment",
            {"round": survey.round, "text": text},
        )
        if self.desk is not None:
            await self.desk.post(
                tx,
                case,
                self.desk.tr._("💬 Survey comment on {case_no}: {text}").format(
                    case_no=case.case_no, text=text
                ),
            )

    async def _archive(self, tx: ConversationTx, case: CaseRecord, actor: str, reason: str) -> None:
        now = self.clock.now()
        await tx.add_event(
            case, now, actor, "status_changed", {"from": case.status, "to": "archived"}
        )
        await tx.add_event(case, now, actor, "archived", {"reason": reason})
        case.status = CaseStatus.ARCHIVED
        await tx.set_timers(case, [], replacing="quiet")
        await tx.save_case(case)

    # ----- sending -----------------------------------------------------------------------

    async def _to_complainant(
        self,
        tx: ConversationTx,
        case: CaseRecord,
        text: str,
        kind: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
    ) -> None:
        await tx.enqueue(
            Outbound(
                channel=case.channel,
                conversation=case.conversation,
                text=text,
                case_no=case.case_no,
                buttons=buttons,
                automatic=True,
            ),
            kind,
            self.clock.now(),
        )

    async def _to_staff(
        self, tx: ConversationTx, case: CaseRecord, who: str, text: str, kind: str
    ) -> None:
        assert self.desk is not None
        await tx.enqueue(
            Outbound(channel=self.desk.config.channel, conversation=who, text=text),
            kind,
            self.clock.now(),
        )

    def _limit_name(self, limit: str) -> str:
        assert self.desk is not None
        _ = self.desk.tr.gettext
        return {
            "receipt": _("receipt"),
            "first_response": _("first response"),
            "resolution": _("resolution"),
        }[limit]

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M")


def _deadline(case: CaseRecord, limit: str) -> datetime | None:
    return {
        "receipt": case.receipt_due_at,
        "first_response": case.response_due_at,
        "resolution": case.resolution_due_at,
    }[limit]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
