"""How the ledger masks a complainant's details unless it is exported unmasked: enough
of each is left to tell rows apart. (`reporting.columns` does the same to a column.)"""

from __future__ import annotations

from bot.domain import ERASED


def mask_name(name: str) -> str:
    """`Alice Wang` → `A*********`, `张三` → `张*`: enough to tell rows apart."""
    if name == ERASED:
        return name
    return name[:1] + "*" * (len(name) - 1)


def mask_phone(phone: str) -> str:
    """`+8613812345678` → `+86138****5678`, as Chinese receipts print numbers."""
    if len(phone) <= 8:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone[:-8] + "****" + phone[-4:]


def mask_email(email: str) -> str:
    """`alice@example.com` → `a***@example.com`."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}"


MASKS = {"name": mask_name, "phone": mask_phone, "email": mask_email}
"""The masks by the names `reporting.layout.Masked` gives them."""
