"""Every text shown to people is in the catalogs and has its Simplified Chinese version."""

from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, Translator, locale_for

ROOT = Path(__file__).parents[2]
# English source texts are the message ids, so only zh_CN must translate every one.
MUST_TRANSLATE = ("zh_CN",)


def pybabel(*args: str) -> None:
    """Runs `pybabel` as the README does, with the options of pyproject.toml's [tool.babel.*]."""
    CommandLineInterface().run(["pybabel", "-q", *args])


def test_catalogs_hold_every_text_of_the_source(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # pybabel reads pyproject.toml and babel.cfg from here
    template = str(tmp_path / "messages.pot")
    pybabel("extract", "-o", template)
    try:
        pybabel("update", "-i", template, "--check")
    except Exception as stale:
        pytest.fail(f"{stale} Run `pybabel extract` and `pybabel update`, then translate.")


@pytest.mark.parametrize("locale", MUST_TRANSLATE)
def test_every_text_is_translated(locale: str) -> None:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    assert catalog.num_plurals == 1  # Chinese: one form for every number
    untranslated = [
        message.id
        for message in catalog
        if message.id
        and (
            message.fuzzy
            or not all(message.string if isinstance(message.string, tuple) else [message.string])
        )
    ]
    assert untranslated == []


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


@pytest.mark.parametrize(
    ("locale", "texts"),
    [
        ("zh_CN", ["证据：1 个文件", "证据：3 个文件"]),
        ("en", ["Evidence: 1 file", "Evidence: 3 files"]),
    ],
)
def test_a_count_takes_its_language_s_plural_form(locale: str, texts: list[str]) -> None:
    tr = Translator(locale)
    assert [
        tr.ngettext("Evidence: {count} file", "Evidence: {count} files", n).format(count=n)
        for n in (1, 3)
    ] == texts
