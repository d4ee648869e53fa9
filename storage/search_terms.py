"""The terms a case is found by: the same words for SQLite and PostgreSQL, made here.

Chinese is written without spaces and most of its words are two characters, so a run
of CJK characters (Han, kana, hangul) is indexed as every single character and every
adjacent pair. A query of one character asks for that character; a longer run asks for
all of its overlapping pairs, which makes a two-character word exact (退款 does not find
a text with only 退 and 款 apart) and a longer phrase nearly so.

Other text is lowercased words (NFKC, case-folded, digits kept). Words joined by
`-.@+_/:'` (a case number TS-20261201-0003, an email address, a phone number written
138-0013-8000) are indexed by each part and squashed into one (ts202612010003); a
query's joined word asks for the squashed form, so "TS20261201-0003" and
"13800138000" find them too. Words mixing letters and digits are indexed by their
letter and digit runs as well (iphone15 → iphone, 15).

Pure: no SQL, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Han (with its extensions and compatibility block, 々〆〇), kana and hangul.
_CJK = (
    "\u1100-\u11ff\u3005-\u3007\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_CJK_RUN = re.compile(f"([{_CJK}]+)")
_JOINERS = "-.@+_/:'"
# Letters and digits, joined by single joiners; the CJK runs are already split off.
_WORD = re.compile(rf"[^\W_]+(?:[{re.escape(_JOINERS)}][^\W_]+)*")
_PART = re.compile(r"[^\W_]+")
_LETTERS_OR_DIGITS = re.compile(r"\d+|[^\W\d_]+")


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _pieces(text: str) -> Iterable[tuple[bool, str]]:
    """(is CJK, piece) for the CJK runs and the words of `text`, in order."""
    for position, piece in enumerate(_CJK_RUN.split(_normal(text))):
        if position % 2:
            yield True, piece
        else:
            for word in _WORD.findall(piece):
                yield False, word


def _squashed(word: str) -> str:
    return "".join(_PART.findall(word))


def index_terms(*texts: str | None) -> set[str]:
    """Every term the texts are found by (None and "" add nothing)."""
    terms: set[str] = set()
    for text in texts:
        for cjk, piece in _pieces(text or ""):
            if cjk:
                terms.update(piece)
                terms.update(piece[i : i + 2] for i in range(len(piece) - 1))
                continue
            terms.add(_squashed(piece))
            for part in _PART.findall(piece):
                terms.add(part)
                runs = _LETTERS_OR_DIGITS.findall(part)
                if len(runs) > 1:
                    terms.update(runs)
    return terms


def query_terms(query: str) -> list[str]:
    """The terms a case must all have to match `query`, in the query's order, once each;
    [] for a query with no word in it."""
    terms: dict[str, None] = {}
    for cjk, piece in _pieces(query):
        if not cjk:
            terms[_squashed(piece)] = None
        elif len(piece) == 1:
            terms[piece] = None
        else:
            terms.update((piece[i : i + 2], None) for i in range(len(piece) - 1))
    return list(terms)


def phone_terms(phone: str | None) -> set[str]:
    """A phone number's digits as one term; a mainland number's also without its
    country code, and the code apart (+8613800138000 is found by 13800138000 and by
    "+86 13800138000")."""
    digits = "".join(c for c in _normal(phone or "") if c.isdigit())
    if not digits:
        return set()
    terms = {digits}
    if len(digits) == 13 and digits.startswith("86"):
        terms.update((digits[2:], "86"))
    return terms


def case_terms(
    case_no: str,
    name: str | None,
    phone: str | None,
    email: str | None,
    texts: Iterable[str | None],
) -> set[str]:
    """A case's terms: its number, its contact and its texts (subject, description,
    expectation, every message on it)."""
    return index_terms(case_no, name, phone, email, *texts) | phone_terms(phone)
