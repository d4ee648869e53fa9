"""The satisfaction survey on its page in the browser, behind the link a web-chat survey
carries (`Surveys.page_link`; the page itself is `web.public.survey`).

Looking at the page never rates. A rating posted from it goes through the same
`Surveys.rate` as one given in the chat (archive, or reopen and escalate), under the
lock of the case's own conversation, so a rating on the page and one in the chat
cannot both count. The chat is told the outcome, as if the rating had been given
there, so the conversation's record stays whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import CaseStatus
from bot.followup import Surveys
from bot.messages import Outbound
from bot.ports import CaseRecord, Clock, ConversationTx, Repository, SurveyRecord

VIA = "survey_page"  # where the timeline says a rating from the page was given


class SurveyState(StrEnum):
    """Where a case's survey stands, as its page sees it."""

    OPEN = "open"  # asked, waiting for the answer
    RATED = "rated"  # answered, on the page or in the chat
    CLOSED = "closed"  # nothing waits for an answer: closed unanswered, or the case moved on


@dataclass(frozen=True, slots=True)
class PageSurvey:
    """What the survey's page shows of a case."""

    case_no: str
    state: SurveyState
    score: int | None = None
    # The rating was below the threshold: the case was reopened and escalated.
    reopened: bool = False
    # The rating was given by this very request (not earlier, not in the chat).
    rated_now: bool = False


def survey_state(case: CaseRecord, survey: SurveyRecord | None) -> PageSurvey:
    """The survey's state: open only while the case stays resolved and the survey waits
    for its answer (the rule the chat's rating buttons follow)."""
    if survey is not None and survey.answered_at is not None:
        reopened = survey.outcome == "unsatisfied"
        return PageSurvey(case.case_no, SurveyState.RATED, survey.score, reopened)
    if survey is not None and survey.awaiting_answer and case.status is CaseStatus.RESOLVED:
        return PageSurvey(case.case_no, SurveyState.OPEN)
    return PageSurvey(case.case_no, SurveyState.CLOSED)


class SurveyPage:
    """Reads and answers a case's survey for its page."""

    def __init__(self, repository: Repository, surveys: Surveys, clock: Clock) -> None:
        self.repository = repository
        self.surveys = surveys
        self.clock = clock

    async def show(self, case_no: str) -> PageSurvey | None:
        """The survey's state; None when there is no such case. Changes nothing."""
        async with self._case(case_no) as found:
            if found is None:
                return None
            tx, case = found
            return survey_state(case, await tx.latest_survey(case))

    async def rate(self, case_no: str, score: int, comment: str = "") -> PageSurvey | None:
        """Rates the case's open survey (`score` 1–5, the comment with it if any); a
        survey already answered or closed is left as it is and its state returned."""
        if score not in range(1, 6):
            raise ValueError(f"a rating is 1 to 5, not {score}")
        async with self._case(case_no) as found:
            if found is None:
                return None
            tx, case = found
            survey = await tx.latest_survey(case)
            state = survey_state(case, survey)
            if state.state is not SurveyState.OPEN:
                return state
            assert survey is not None
            answers = await self.surveys.rate(tx, case, survey, score, comment.strip(), VIA)
            await tx.enqueue(
                Outbound(
                    channel=case.channel,
                    conversation=case.conversation,
                    text=answers[0],
                    case_no=case.case_no,
                    automatic=True,
                ),
                "reply",
                self.clock.now(),
            )
            reopened = case.status is CaseStatus.REOPENED
            return PageSurvey(case.case_no, SurveyState.RATED, score, reopened, rated_now=True)

    @asynccontextmanager
    async def _case(self, case_no: str) -> AsyncIterator[tuple[ConversationTx, CaseRecord] | None]:
        """The case in a transaction on its own conversation; None when there is none."""
        where = await self.repository.conversation_of(case_no)
        if where is None:
            yield None
            return
        channel, conversation = where
        async with self.repository.conversation(channel, conversation, VIA) as tx:
            case = await tx.case(case_no)
            yield None if case is None else (tx, case)
