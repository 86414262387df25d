"""Time zones and instants."""

from __future__ import annotations

from datetime import date, datetime
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
