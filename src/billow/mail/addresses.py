"""E-mail addresses: a customer's ``email`` (Lago allows a comma-separated list) and their format."""

from __future__ import annotations

import re

#: The WHATWG HTML ``input type=email`` address syntax (the one Ruby's ``URI::MailTo::EMAIL_REGEXP`` follows).
_EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def split_addresses(value: str | None) -> list[str]:
    """``"a@x.com, b@y.com"`` → ``["a@x.com", "b@y.com"]``; nothing for ``None`` or blanks."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]
