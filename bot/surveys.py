"""Answers to the satisfaction survey in a chat: a rating button, a typed digit, a comment.

A survey is answered by pressing one of its buttons (`rate:CASE_NO:SCORE`) or, with
no intake in progress, by typing a digit 1–5 (a comment may follow on the next
lines). The very next text after a rating without a comment is taken as its comment.
What a rating does to the case (archive, or reopen and escalate) is `bot.followup`'s.
"""

from __future__ import annotations

from bot.conversation import ChatTurn
from bot.domain import CaseStatus
from bot.followup import Surveys, parse_rating
from bot.messages import InboundKind, Reply
from bot.ports import CaseRecord

_RATE_BUTTON = "rate:"


class SurveyAnswers:
    """Takes a chat message that answers a survey; leaves every other one alone."""

    def __init__(self, surveys: Surveys) -> None:
        self.surveys = surveys

    async def answer(self, turn: ChatTurn) -> bool:
        """Handles the message if it answers a survey; False when it does not."""
        inbound, state = turn.inbound, turn.state
        commenting = state.commenting
        if inbound.kind in (InboundKind.TEXT, InboundKind.COMMAND):
            state.commenting = None  # the comment window is the very next message
        if inbound.kind is InboundKind.BUTTON and (inbound.button_data or "").startswith(
            _RATE_BUTTON
        ):
            await self._rate_button(turn, inbound.button_data or "")
            return True
        if inbound.kind is not InboundKind.TEXT or state.draft is not None:
            return False
        first, _sep, comment = inbound.text.strip().partition("\n")
        score = parse_rating(first)
        case = await turn.tx.case_awaiting_rating() if score is not None else None
        if score is not None and case is not None:
            await self._rate(turn, case, score, comment.strip())
            return True
        return commenting is not None and await self._comment(turn, commenting)

    async def _rate_button(self, turn: ChatTurn, data: str) -> None:
        _prefix, case_no, score = [*data.split(":"), "", ""][:3]
        case = await turn.tx.case(case_no)
        own = (  # the channel gives a button's sender's own conversation (not a group's)
            case is not None
            and not turn.inbound.group
            and case.channel == turn.inbound.channel
            and case.conversation == turn.inbound.conversation
        )
        if case is None or not own or not score.isdigit() or int(score) not in range(1, 6):
            turn.say(Reply(turn.tr._("That button is no longer active.")))
            return
        survey = await turn.tx.latest_survey(case)
        if survey is None or survey.asked_at is None or case.status is not CaseStatus.RESOLVED:
            turn.say(Reply(turn.tr._("That button is no longer active.")))
            return
        if not survey.awaiting_answer:
            turn.say(
                Reply(
                    turn.tr._("Your rating of {case_no} is already recorded.").format(
                        case_no=case.case_no
                    )
                )
            )
            return
        await self._rate(turn, case, int(score))

    async def _rate(self, turn: ChatTurn, case: CaseRecord, score: int, comment: str = "") -> None:
        survey = await turn.tx.latest_survey(case)
        assert survey is not None
        await turn.tx.attach_inbound(case)
        answers = await self.surveys.rate(turn.tx, case, survey, score, comment)
        if not comment:
            turn.state.commenting = case.case_no
        for text in answers:
            turn.say(Reply(text), case_no=case.case_no)

    async def _comment(self, turn: ChatTurn, case_no: str) -> bool:
        case = await turn.tx.case(case_no)
        survey = await turn.tx.latest_survey(case) if case is not None else None
        if case is None or survey is None or survey.answered_at is None or survey.comment:
            return False
        if not turn.inbound.text.strip():
            return False
        await turn.tx.attach_inbound(case)
        await self.surveys.comment(turn.tx, case, survey, turn.inbound.text.strip())
        turn.say(Reply(turn.tr._("Thank you, your comment is on file.")), case_no=case.case_no)
        return True
