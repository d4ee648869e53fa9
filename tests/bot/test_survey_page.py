"""The survey's page as the bot sees it (`bot.survey_page`), on every backend: the link a
survey carries on the channels given one, and a rating from the page that counts once,
as one from the chat does. (The page over HTTP: tests/web/test_public_survey.py.)"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from bot.router import BotConfig, ComplaintBot
from bot.survey_page import SurveyState
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_followup import DESK, resolve, sweep, timings
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import AgentsGroup, Chat, texts
from tests.support.clock import FakeClock
from tests.support.records import Records


def page_of(case_no: str, expires_at: datetime) -> str:
    return f"https://complaints.example.com/survey/{case_no}/{int(expires_at.timestamp())}"


async def test_a_rating_from_the_page_reopens_once_and_the_chat_is_told(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, records: Records, tmp_path: Path
) -> None:
    config = BotConfig(
        desk=DESK,
        default_locale="en",
        followup=timings(tmp_path),
        survey_link=page_of,
        survey_link_channels=frozenset({"test"}),
    )
    bot = ComplaintBot(repository, config, clock)
    alice = Chat(bot, outbox, clock)
    case_no = re.search(r"TS-\d{8}-\d{4}", await play(alice, ENGLISH_INTAKE)).group(0)  # type: ignore[union-attr]
    await resolve(AgentsGroup(alice), case_no)
    clock.advance(minutes=11)
    await sweep(alice)
    asked_at = clock.now()
    survey = alice.mine()[-1].text
    # Valid until the survey stops waiting: `auto_archive` (3 hours) after it was asked.
    until = int((asked_at + config.followup.auto_archive).timestamp())
    assert f"on this page: https://complaints.example.com/survey/{case_no}/{until}" in survey

    shown = await bot.survey_page.show(case_no)
    assert shown is not None and shown.state is SurveyState.OPEN
    assert await bot.survey_page.show("TS-20000101-0001") is None

    rated = await bot.survey_page.rate(case_no, 1, "  Nothing changed.  ")
    assert rated is not None
    assert (rated.state, rated.score, rated.reopened, rated.rated_now) == (
        SurveyState.RATED,
        1,
        True,
        True,
    )
    await alice.deliver_pending()
    assert "has been reopened" in texts(alice.mine()[-1:])
    (row,) = await records.surveys()
    assert (row.score, row.outcome, row.comment) == (1, "unsatisfied", "Nothing changed.")
    assert (await records.case(case_no)).status == "reopened"

    again = await bot.survey_page.rate(case_no, 5)
    assert again is not None and (again.state, again.score, again.rated_now) == (
        SurveyState.RATED,
        1,
        False,
    )
    assert len(await records.events(case_no, "survey_answered")) == 1
