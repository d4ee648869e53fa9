"""Every text shown to people is in the catalogs and has its Simplified Chinese version."""

import os
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot import i18n
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



@pytest.fixture
def catalogs_in(tmp_path, monkeypatch):
    """bot.i18n reading its catalogs from tmp_path, each read anew."""
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n._translations.cache_clear()
    yield tmp_path / "zh_CN" / "LC_MESSAGES"
    i18n._translations.cache_clear()


def test_the_compiled_catalog_is_read_unless_its_po_was_edited_since(catalogs_in) -> None:
    """An install reads its .mo; a .po edited after it (pybabel update, a translation)
    is read instead, so the edit shows without compiling."""
    catalogs_in.mkdir(parents=True)
    seen = []
    for name, translation, mtime in [
        ("messages.mo", "编译的", 2_000),
        ("messages.po", "旧的", 1_000),
        ("messages.po", "新的", 3_000),
    ]:
        catalog = Catalog(locale="zh_CN")
        catalog.add("Continue", translation)
        with (catalogs_in / name).open("wb") as handle:
            (write_mo if name.endswith(".mo") else write_po)(handle, catalog)
        os.utime(catalogs_in / name, (mtime, mtime))
        i18n._translations.cache_clear()
        seen.append(Translator("zh_CN").gettext("Continue"))
    assert seen == ["编译的", "编译的", "新的"]
