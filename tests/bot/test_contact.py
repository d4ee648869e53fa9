import pytest

from bot.contact import parse_contact
from bot.domain import Category, suggest_category


@pytest.mark.parametrize(
    ("typed", "phone", "email"),
    [
        ("13812345678", "+8613812345678", None),
        ("138 1234 5678", "+8613812345678", None),
        ("+86 138-1234-5678", "+8613812345678", None),
        ("010-12345678", "+861012345678", None),
        ("li@example.com", None, "li@example.com"),
        ("li@example.com，13812345678", "+8613812345678", "li@example.com"),
        ("+1 415 555 2671", "+14155552671", None),
    ],
)
def test_valid_contacts(typed: str, phone: str | None, email: str | None) -> None:
    answer = parse_contact(typed)
    assert (answer.phone, answer.email, answer.usable) == (phone, email, True)


@pytest.mark.parametrize("typed", ["12345", "li@", "li@example", "call me", "13812345678 x@y"])
def test_invalid_contacts_are_rejected(typed: str) -> None:
    assert not parse_contact(typed).usable


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("我被多扣了30元话费", Category.APPEAL),
        ("我要举报诈骗短信", Category.REPORT),
        ("I was overcharged", Category.APPEAL),
        ("请问怎么退订", Category.CONSULTATION),
        ("hello", None),
        ("我要举报乱收费", None),  # two categories match: no guess
    ],
)
def test_category_suggestion_only_when_obvious(text: str, category: Category | None) -> None:
    assert suggest_category(text) == category
