"""Reading a phone number and an email address out of what a person typed."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_EMAIL_CANDIDATE = re.compile(r"[^\s,;，；、<>]+@[^\s,;，；、<>]+")


@dataclass(frozen=True, slots=True)
class ContactAnswer:
    phone: str | None
    email: str | None
    rejected: tuple[str, ...]

    @property
    def usable(self) -> bool:
        return not self.rejected and (self.phone is not None or self.email is not None)


# local@domain: the domain a host name (any script) or an address literal.
_ADDRESS = re.compile(r"^[^@\s]+@(?:[\w-]+(?:\.[\w-]+)*\.?|\[[0-9a-fA-F:.]+\])$")


def answerable(address: str) -> bool:
    """Whether a letter can be sent to `address`: a local part, `@` and a domain."""
    return bool(_ADDRESS.match(address))


def normalise_phone(raw: str, region: str = "CN") -> str | None:
    """E.164 form of a valid phone number, or None."""
    candidates = [raw]
    digits = re.sub(r"\D", "", raw)
    if not raw.strip().startswith("+") and len(digits) > 11:
        # Telegram hands shared contacts over without the leading "+".
        candidates.insert(0, "+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def normalise_email(raw: str) -> str | None:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def parse_contact(text: str, region: str = "CN") -> ContactAnswer:
    """Finds at most one phone and one email; anything else that looks like one is rejected."""
    rejected: list[str] = []
    email: str | None = None
    for candidate in _EMAIL_CANDIDATE.findall(text):
        valid = normalise_email(candidate)
        if valid and email is None:
            email = valid
        elif not valid:
            rejected.append(candidate)
    rest = _EMAIL_CANDIDATE.sub(" ", text).strip(" \t\n,;，；、")
    phone: str | None = None
    if rest:
        phone = normalise_phone(rest, region)
        if phone is None:
            rejected.append(rest)
    return ContactAnswer(phone=phone, email=email, rejected=tuple(rejected))
