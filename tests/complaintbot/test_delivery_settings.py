"""TELEGRAM_CHAT_BURST and DELIVERY_GIVE_UP_AFTER: their defaults, their reading, and a
wrong value stopping start-up with one line naming it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from channels.spec import ChannelContext
from channels.telegram.running import RunningTelegram
from complaintbot.settings import Settings, SettingsError, load_settings
from delivery.sending import Rate
from tests.complaintbot.test_cli import complaintbot
from tests.support.clock import FakeClock

TOKEN = "7000001:AAH-stand-in-secret-token-0123456789"


def settings(**given: Any) -> Settings:
    return Settings(_env_file=None, **given)  # type: ignore[call-arg]


def test_the_defaults_are_telegrams_burst_of_three_and_a_day_of_retries() -> None:
    defaults = settings()
    assert defaults.TELEGRAM_CHAT_BURST == 3
    assert defaults.RETENTION_DAYS is None
    assert defaults.DELIVERY_GIVE_UP_AFTER == timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "duration"),
    [("90m", timedelta(minutes=90)), ("1.5h", timedelta(minutes=90)), (" 3d ", timedelta(3))],
)
def test_the_give_up_time_is_read_like_the_sla_files_durations(
    text: str, duration: timedelta
) -> None:
    assert settings(DELIVERY_GIVE_UP_AFTER=text).DELIVERY_GIVE_UP_AFTER == duration


def test_the_chat_burst_reaches_telegrams_pacing() -> None:
    context = cast(ChannelContext, SimpleNamespace(handle=None, clock=FakeClock()))
    running = RunningTelegram(settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_BURST=5), context)
    assert running.pacing.per_conversation("7001") == Rate(1, 1.0, burst=5)
    assert running.pacing.per_conversation("-100777") == Rate(20, 61.0, window=True)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TELEGRAM_CHAT_BURST", "0", "must be a whole number of messages, at least 1"),
        ("TELEGRAM_CHAT_BURST", "many", "must be a whole number of messages, at least 1"),
        ("DELIVERY_GIVE_UP_AFTER", "24", "'24' is not a duration (examples: 30m, 24h, 3d)"),
        ("DELIVERY_GIVE_UP_AFTER", "a day", "'a day' is not a duration"),
        ("DELIVERY_GIVE_UP_AFTER", "2wd", "'2wd' must be in s, m, h or d, not working time"),
        ("DELIVERY_GIVE_UP_AFTER", "0h", "must be longer than 0"),
        ("RETENTION_DAYS", "0", "must be a whole number of days, at least 1"),
        ("RETENTION_DAYS", "a year", "must be a whole number of days, at least 1"),
        ("RETENTION_DAYS", "-5", "must be a whole number of days, at least 1"),
    ],
)
def test_a_wrong_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, says: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as wrong:
        load_settings()
    assert str(wrong.value).startswith(f"Setting {name} is wrong: {says}")


def test_a_wrong_give_up_time_stops_start_up_with_one_line(tmp_path: Path) -> None:
    run = complaintbot(["run"], tmp_path, {"DELIVERY_GIVE_UP_AFTER": "forever"})
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "Setting DELIVERY_GIVE_UP_AFTER is wrong: 'forever' is not a duration "
        "(examples: 30m, 24h, 3d)"
    )
