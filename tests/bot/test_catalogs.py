"""Every text shown to people has its Simplified Chinese version."""

from bot.i18n import Translator, locale_for
from bot.locales import catalogs


def test_catalogs_are_complete_and_current(capsys) -> None:
    status = catalogs.main(["--check"])
    assert status == 0, capsys.readouterr().out


def test_language_codes_map_to_locales() -> None:
    assert [locale_for(code, "zh_CN") for code in ("zh-hans", "zh-TW", "en-GB", "fr", None)] == [
        "zh_CN",
        "zh_CN",
        "en",
        "zh_CN",
        "zh_CN",
    ]
    assert Translator("zh_CN").gettext("Continue") == "继续"
    assert Translator("en").gettext("Continue") == "Continue"
