"""Keeps the gettext catalogs in step with the source: `python -m bot.locales.catalogs`.

Extracts every `_("…")` text from bot/, scheduler/, reporting/ and complaintbot/
(Python and the Jinja templates of reporting/templates/) and merges it into each
locale's messages.po: translations of known texts are kept, new texts are added
untranslated, texts no longer used are dropped. `--check` changes nothing and exits 1
when a catalog is stale or a zh_CN text is missing (the test suite runs it).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).parent
ROOT = LOCALES.parents[1]
SOURCES = ("bot", "scheduler", "reporting", "complaintbot")
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
# English source texts are the message ids, so only zh_CN must translate every one.
MUST_TRANSLATE = ("zh_CN",)


def extract() -> list[str]:
    texts: dict[str, None] = {}
    for package in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=METHODS, keywords={"_": None}
        ):
            texts[str(message)] = None
    return sorted(texts)


def merged(path: Path, locale: str, texts: list[str]) -> tuple[bytes, list[str]]:
    known: dict[str, str] = {}
    if path.exists():
        with path.open("rb") as handle:
            known = {str(m.id): str(m.string) for m in read_po(handle) if m.id}
    catalog = Catalog(locale=locale, project="complaintbot")
    for text in texts:
        catalog.add(text, known.get(text, ""))
    out = io.BytesIO()
    write_po(out, catalog, omit_header=True, sort_output=True, width=0)
    missing = [text for text in texts if not known.get(text)]
    return out.getvalue(), missing


def main(argv: list[str]) -> int:
    check = "--check" in argv
    texts = extract()
    problems: list[str] = []
    for locale_dir in sorted(
        p for p in LOCALES.iterdir() if p.is_dir() and p.name != "__pycache__"
    ):
        path = locale_dir / "LC_MESSAGES" / "messages.po"
        data, missing = merged(path, locale_dir.name, texts)
        if locale_dir.name in MUST_TRANSLATE:
            problems += [f"{locale_dir.name}: no translation for {text!r}" for text in missing]
        if not path.exists() or path.read_bytes() != data:
            if check:
                problems.append(
                    f"{path.relative_to(ROOT)} is stale: run python -m bot.locales.catalogs"
                )
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
