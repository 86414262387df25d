"""Time zones and instants: the one ISO-8601 instant parser of the API (:func:`parse_instant`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone(name: object) -> bool:
    """An IANA zone name known to this machine's tz database (``Europe/Paris``, ``UTC``)."""
    return isinstance(name, str) and name in _zones()


def local_date(instant: datetime, timezone: str) -> date:
    """The calendar day of ``instant`` in the IANA zone ``timezone``."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def parse_instant(text: str, *, full_date: bool = False) -> datetime:
    """An ISO-8601 date-time, or a date (its midnight), as an aware UTC datetime: without an offset it is
    UTC; ``Z`` is ``+00:00``. ``full_date``: refuse the date forms shorter than ``YYYY-MM-DD`` or not
    starting with a four-digit year (``20240101``, ``2024-W01``; the events API's rule). Surrounding
    spaces are the caller's business (refused here).

    Raises ``ValueError`` when unreadable and ``OverflowError`` when the instant is outside the range of
    datetimes once in UTC (``0001-01-01T00:00:00+01:00``)."""
    if full_date and (len(text) < 10 or not text[:4].isdigit()):
        raise ValueError(f"not an ISO-8601 instant with a full date: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_instant_or_none(value: object) -> datetime | None:
    """A request field that should be an instant (``subscription_at``, ``expiration_at``...):
    :func:`parse_instant` of a string, spaces around it ignored; ``None`` for another type or an
    unreadable string (the caller reports it). An instant out of range in UTC raises ``OverflowError``."""
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value.strip())
    except ValueError:
        return None


def parse_date_or_none(value: str | None) -> date | None:
    """A query filter that should be an ISO-8601 date; ``None`` when empty or unreadable (Lago then ignores
    the filter)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
