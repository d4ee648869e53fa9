"""The satisfaction survey: asked some time after each resolution, 1–5.

At or above the threshold the case is archived; below it the case is reopened and
escalated. No answer: one reminder, then archived as "no answer". When each step is
due is the scheduler's (`scheduler.surveys`); what is said, and what a rating means,
is here.

On the channels given a `SurveyLink` (the web chat's), the question and its reminder
also carry the address of the survey's page in the browser, valid until the survey
closes unanswered (`auto_archive` after the question); the page rates through `rate`
too (`bot.survey_page`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.domain import CaseStatus
from bot.followup.clock import CaseClock
from bot.followup.common import FollowUpConfig, apply_plan, tell_complainant
from bot.i18n import Translator
from bot.messages import Button
from bot.ports import (
    CaseRecord,
    CaseStore,
    Clock,
    PartnerStore,
    ReplyQueue,
    SurveyRecord,
    TimerStore,
)
from bot.staff import StaffNotices
from scheduler import surveys, timers

log = logging.getLogger(__name__)

SCORES = range(1, 6)
_DIGIT = re.compile(r"^\s*([1-5１-５])\s*[.。!！]?\s*$")


def parse_rating(text: str) -> int | None:
    """A rating typed as text: one digit 1–5 (full-width digits too), nothing else."""
    match = _DIGIT.match(text)
    if match is None:
        return None
    return int(match.group(1).translate(str.maketrans("１２３４５", "12345")))


# The address of a case's survey page, valid until the given time (signed by the web
# side, which alone knows its key and the public address).
SurveyLink = Callable[[str, datetime], str]


class _Tx(CaseStore, TimerStore, ReplyQueue, PartnerStore, Protocol):
    """The ports a survey works on."""


class Surveys:
    def __init__(
        self,
        config: FollowUpConfig,
        case_clock: CaseClock,
        staff: StaffNotices,
        clock: Clock,
        link: SurveyLink | None = None,
        link_channels: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.case_clock = case_clock
        self.staff = staff
        self.clock = clock
        self.link = link
        self.link_channels = link_channels

    # ----- when its timers fire ----------------------------------------------------------

    async def ask(self, tx: _Tx, case: CaseRecord) -> None:
        survey = await tx.latest_survey(case)
        assert survey is not None
        now = self.clock.now()
        survey.asked_at = now
        await tx.save_survey(case, survey)
        await self._send(tx, case, survey, reminder=False)
        await tx.add_event(case, now, "system", "survey_sent", {"round": survey.round})
        await apply_plan(tx, case, surveys.after_asking(self.config.survey_timing, now))

    async def remind(self, tx: _Tx, case: CaseRecord) -> None:
        survey = await tx.latest_survey(case)
        assert survey is not None
        if survey.reminded_at is not None:
            return
        survey.reminded_at = self.clock.now()
        await tx.save_survey(case, survey)
        await self._send(tx, case, survey, reminder=True)
        await tx.add_event(
            case, self.clock.now(), "system", "survey_reminded", {"round": survey.round}
        )

    async def expire(self, tx: _Tx, case: CaseRecord) -> None:
        survey = await tx.latest_survey(case)
        assert survey is not None
        survey.outcome = "no_answer"
        await tx.save_survey(case, survey)
        await self._archive(tx, case, "system", "no_answer")
        await self.staff.post(
            tx,
            case,
            self.staff.tr._("🗄 {case_no} archived: the survey had no answer.").format(
                case_no=case.case_no
            ),
        )
        log.info("case %s archived without an answer to survey %s", case.case_no, survey.round)

    async def _send(self, tx: _Tx, case: CaseRecord, survey: SurveyRecord, reminder: bool) -> None:
        tr = Translator(case.locale)
        first = (
            tr._("A reminder: how satisfied are you with how we handled {case_no}?")
            if reminder
            else tr._("How satisfied are you with how we handled your complaint {case_no}?")
        )
        lines = [
            first.format(case_no=case.case_no),
            tr._("Reply with a digit from 1 to 5: 1 very dissatisfied … 5 very satisfied."),
            tr._("A comment is welcome on the lines below the digit."),
        ]
        page = self.page_link(case, survey)
        if page is not None:
            lines.append(
                tr._("Or rate it, with a comment if you like, on this page: {link}").format(
                    link=page
                )
            )
        text = "\n".join(lines)
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
        await tell_complainant(tx, self.clock, case, text, "survey", buttons)

    def page_link(self, case: CaseRecord, survey: SurveyRecord) -> str | None:
        """The address of the survey's page for the case, when its channel has one: valid
        as long as the survey waits for an answer. Mail gets none (mails carry no links)."""
        if self.link is None or case.channel not in self.link_channels:
            return None
        assert survey.asked_at is not None
        return self.link(case.case_no, survey.asked_at + self.config.auto_archive)

    # ----- the complainant's answer ------------------------------------------------------

    async def rate(
        self,
        tx: _Tx,
        case: CaseRecord,
        survey: SurveyRecord,
        score: int,
        comment: str = "",
        via: str | None = None,
    ) -> list[str]:
        """The complainant's rating, with the comment given with it if any; returns what
        they are told (a comment is invited when none came). `via` names where it was
        given when not in the case's own conversation (the survey's page)."""
        answers = await self._rate(tx, case, survey, score, via)
        if not comment:
            return answers
        await self.comment(tx, case, survey, comment)
        return answers[:1]

    async def _rate(
        self, tx: _Tx, case: CaseRecord, survey: SurveyRecord, score: int, via: str | None
    ) -> list[str]:
        now = self.clock.now()
        actor = f"complainant:{case.complainant_id}"
        survey.score, survey.answered_at = score, now
        satisfied = score >= self.config.satisfied_threshold
        survey.outcome = "satisfied" if satisfied else "unsatisfied"
        await tx.save_survey(case, survey)
        await apply_plan(tx, case, surveys.ANSWERED)
        answered: dict[str, object] = {"round": survey.round, "score": score}
        if via is not None:
            answered["via"] = via
        await tx.add_event(case, now, actor, "survey_answered", answered)
        tr = Translator(case.locale)
        invite = tr._("If you like, write a comment now; it goes to your case file.")
        if satisfied:
            await self._archive(tx, case, actor, "satisfied")
            await self.staff.post(
                tx,
                case,
                self.staff.tr._("⭐ {case_no} rated {score}/5 and archived.").format(
                    case_no=case.case_no, score=score
                ),
            )
            return [tr._("Thank you for your rating ({score}/5).").format(score=score), invite]
        await self._reopen_and_escalate(tx, case, actor, score)
        return [
            tr._(
                "We are sorry we did not do better. Your complaint {case_no} has been reopened "
                "and a supervisor will follow it up."
            ).format(case_no=case.case_no),
            invite,
        ]

    async def _reopen_and_escalate(
        self, tx: _Tx, case: CaseRecord, actor: str, score: int
    ) -> None:
        now = self.clock.now()
        await tx.add_event(
            case, now, actor, "status_changed", {"from": case.status, "to": "reopened"}
        )
        case.status = CaseStatus.REOPENED
        case.resolved_at = None
        await tx.add_event(case, now, actor, "reopened", {"reason": f"survey score {score}"})
        await self.case_clock.reopened(tx, case, actor)
        case.escalated_at = now
        await tx.save_case(case)
        await tx.add_event(case, now, actor, "escalated", {"reason": f"survey score {score}"})
        if self.staff.active:
            text = self.staff.tr._(
                "⚠️ {case_no} rated {score}/5: reopened and escalated to the supervisors."
            ).format(case_no=case.case_no, score=score)
            await self.staff.post(tx, case, text)
            await self.staff.to_supervisors(tx, case, text)

    async def comment(
        self, tx: _Tx, case: CaseRecord, survey: SurveyRecord, text: str
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
        await self.staff.post(
            tx,
            case,
            self.staff.tr._("💬 Survey comment on {case_no}: {text}").format(
                case_no=case.case_no, text=text
            ),
        )

    async def _archive(self, tx: _Tx, case: CaseRecord, actor: str, reason: str) -> None:
        now = self.clock.now()
        await tx.add_event(
            case, now, actor, "status_changed", {"from": case.status, "to": "archived"}
        )
        await tx.add_event(case, now, actor, "archived", {"reason": reason})
        case.status = CaseStatus.ARCHIVED
        case.archived_at = now  # retention counts from here
        await apply_plan(tx, case, timers.ARCHIVED)
        await tx.save_case(case)
