"""Which channels a run starts, as the settings say, and how people read their names."""

from __future__ import annotations

import os

import pytest

from bot.i18n import Translator
from channels import registry
from complaintbot.settings import Settings

TOKEN = "123456:" + "A" * 35
MAIL = {
    "IMAP_HOST": "imap.corp.example",
    "IMAP_USERNAME": "support@corp.example",
    "IMAP_PASSWORD": "imap-secret",
    "SMTP_HOST": "smtp.corp.example",
    "MAIL_FROM": "support@corp.example",
}


@pytest.fixture(autouse=True)
def _no_channel_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith(("TELEGRAM_", "IMAP_", "SMTP_", "MAIL_")):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("settings", "started"),
    [
        ({}, ["console"]),
        ({"TELEGRAM_BOT_TOKEN": TOKEN}, ["telegram"]),
        (MAIL, ["email"]),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, **MAIL}, ["telegram", "email"]),
    ],
)
def test_the_settings_choose_the_channels_and_the_console_when_none(
    settings: dict[str, str], started: list[str]
) -> None:
    chosen = registry.configured(Settings(_env_file=None, **settings))  # type: ignore[arg-type,call-arg]
    assert [channel.name for channel in chosen] == started


def test_a_half_configured_channel_names_the_missing_setting() -> None:
    settings = Settings(_env_file=None, **{**MAIL, "SMTP_HOST": ""})  # type: ignore[arg-type,call-arg]
    assert registry.problems(settings) == [
        "Setting SMTP_HOST is wrong: required when IMAP_HOST is set"
    ]


def test_channel_names_are_shown_in_the_readers_language() -> None:
    zh = Translator("zh_CN").gettext
    assert [registry.channel_label(name, zh) for name in registry.CHANNEL_NAMES] == [
        "Telegram",
        "电子邮件",
        "网页",
        "控制台",
    ]
    assert registry.channel_label("fax", zh) == "fax"  # not known: shown as stored
