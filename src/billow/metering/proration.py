"""Prorated aggregations (Lago's ``billable_metrics/prorated_aggregations``): a ``prorated`` charge on a
recurring ``sum_agg`` or ``unique_count_agg`` metric bills each unit for the share of the charges period
during which it was live.

Days are local calendar days (the customer's applicable time zone), counted inclusively:

* ``sum_agg``: an event of the window weighs ``value * days / period_days``, ``days`` running from the
  event's local date to the window's last day (an event on August 10th of a 31-day August: 22/31). A
  value from before the window (recurring units) weighs the whole window: ``window_days / period_days``
  (1 for a full period). Removing units is a negative event, prorated the same way, so a value added on
  day 10 and removed on day 20 of a 30-day month weighs ``21/30 - 11/30 = 10/30``.
* ``unique_count_agg``: each value weighs the number of distinct local days on which it was active within
  the window (from its add, or the window start, to its removal, or the window end, both days included),
  divided by ``period_days``. A value added and removed on the same day weighs one day; a value removed
  and added back on the same day is not counted twice.

The weighted total is divided by ``period_days`` and ceiled to 5 decimals (Lago's ``ceil(5)``), exactly:
Lago multiplies by a ratio PostgreSQL has already rounded to 20 decimals, so its results can exceed these
by 0.00001.

Pay-in-advance charges (standard only) bill each event's increase over the largest total already billed
in the period, prorated from the event's day: ``ceil5(increase * days / period_days)``. Their current usage
prices the units carried from before the window in full plus the sum of those prorated increases (Lago's
``max_aggregation_with_proration``).

Pure: the SQL that feeds these accumulators is in :mod:`billow.metering.aggregation`.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from billow.kit.money import EXACT, QUANTIZE, USAGE_DIVISION
from billow.models.billable_metrics import AggregationType
from billow.subscriptions.periods import UsageWindow

ZERO = Decimal(0)
PRORATED_AGGREGATIONS = frozenset({AggregationType.SUM, AggregationType.UNIQUE_COUNT})

_UNITS_QUANTUM = Decimal("1e-5")
_ONE_DAY = timedelta(days=1)


def ceil5(value: Decimal) -> Decimal:
    """Ceiled to 5 decimals (Lago's ``BigDecimal#ceil(5)``), trailing zeros dropped."""
    return value.quantize(_UNITS_QUANTUM, rounding=ROUND_CEILING, context=QUANTIZE).normalize(QUANTIZE)


@dataclass(frozen=True)
class Proration:
    """The charges window a prorated charge is aggregated over, in local days.

    ``start``: the window's first instant (events before it are carried over from earlier periods);
    ``first_day`` / ``last_day``: its first and last local dates; ``period_days``: the length of the whole
    charges period (the denominator, even when the window is shorter).
    """

    timezone: str
    start: datetime
    first_day: date
    last_day: date
    period_days: int

    @classmethod
    def of_window(cls, window: UsageWindow, timezone: str) -> Proration:
        zone = ZoneInfo(timezone)
        if window.to_datetime >= window.period.end:
            last_day = window.period.end_date - _ONE_DAY
        else:  # terminated during the period: its termination day counts (Lago's DATE(terminated_at))
            last_day = window.to_datetime.astimezone(zone).date()
        return cls(
            timezone=timezone,
            start=window.from_datetime,
            first_day=window.from_datetime.astimezone(zone).date(),
            last_day=last_day,
            period_days=max(window.period.days, 1),
        )

    def day(self, instant: datetime) -> date:
        return instant.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def window_days(self) -> int:
        return self.days_between(self.first_day, self.last_day)

    def days_from(self, day: date) -> int:
        """Days from ``day`` (or the window start, if later) to the window's last day, both included."""
        return self.days_between(day, self.last_day)

    def days_between(self, first: date, last: date) -> int:
        """Days of ``[first, last]`` inside the window, both ends included."""
        first = max(first, self.first_day)
        last = min(last, self.last_day)
        return max((last - first).days + 1, 0)

    def units(self, day_weighted: Decimal) -> Decimal:
        """``day_weighted / period_days`` ceiled to 5 decimals."""
        return ceil5(USAGE_DIVISION.divide(day_weighted, Decimal(self.period_days)))

    def ratio(self, days: int) -> Decimal:
        """``days / period_days`` (for per-event values; 80 significant digits)."""
        return USAGE_DIVISION.divide(Decimal(days), Decimal(self.period_days))


@dataclass
class ProratedKey:
    """What one bucket and group accumulates."""

    #: Σ value * days (sum), Σ active days (unique count).
    day_weighted: Decimal = ZERO
    #: Per event, in time order: (full value, prorated value), for the prorated graduated model.
    values: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    #: Pay in advance: the window's running total, its highest value, and Σ prorated increases.
    running: Decimal = ZERO
    highest: Decimal | None = None
    billed: Decimal = ZERO

    def add_in_advance(self, delta: Decimal, days: int, proration: Proration) -> None:
        """One window event of a pay-in-advance charge: Lago bills ``max(delta, 0)`` for the first event of
        the period, then what the running total gains over its highest value so far."""
        self.running = EXACT.add(self.running, delta)
        if self.highest is None:
            increase = max(delta, ZERO)
            self.highest = delta
        elif self.running > self.highest:
            increase = EXACT.subtract(self.running, self.highest)
            self.highest = self.running
        else:
            return
        if increase:
            self.billed = EXACT.add(self.billed, proration.units(EXACT.multiply(increase, Decimal(days))))


class SumProration:
    """A prorated ``sum_agg``: feed the totals carried from before the window (:meth:`carried`), then the
    window's events in time order (:meth:`event`)."""

    def __init__(self, proration: Proration) -> None:
        self.proration = proration
        self.keys: dict[Hashable, ProratedKey] = {}

    def _key(self, key: Hashable) -> ProratedKey:
        found = self.keys.get(key)
        if found is None:
            found = self.keys[key] = ProratedKey()
        return found

    def carried(self, key: Hashable, total: Decimal) -> None:
        if not total:
            return
        days = self.proration.window_days
        state = self._key(key)
        state.day_weighted = EXACT.add(state.day_weighted, EXACT.multiply(total, Decimal(days)))
        state.values.append((total, USAGE_DIVISION.multiply(total, self.proration.ratio(days))))

    def event(self, key: Hashable, value: Decimal, instant: datetime) -> None:
        days = self.proration.days_from(self.proration.day(instant))
        state = self._key(key)
        state.day_weighted = EXACT.add(state.day_weighted, EXACT.multiply(value, Decimal(days)))
        state.values.append((value, USAGE_DIVISION.multiply(value, self.proration.ratio(days))))
        state.add_in_advance(value, days, self.proration)


class UniqueCountProration:
    """A prorated ``unique_count_agg``: feed every event (carried ones too) in time order. A value's
    latest operation decides whether it is active, as in the non-prorated count."""

    def __init__(self, proration: Proration) -> None:
        self.proration = proration
        self.keys: dict[Hashable, ProratedKey] = {}
        # Per (key, value): the local day it became active (None: inactive), the last day counted, and
        # the index of its open add in the per-event values.
        self._since: dict[tuple[Hashable, str], date | None] = {}
        self._counted: dict[tuple[Hashable, str], date] = {}
        self._open: dict[tuple[Hashable, str], int] = {}

    def _key(self, key: Hashable) -> ProratedKey:
        found = self.keys.get(key)
        if found is None:
            found = self.keys[key] = ProratedKey()
        return found

    def event(self, key: Hashable, value: str, is_add: bool, instant: datetime) -> None:
        member = (key, value)
        state = self._key(key)
        since = self._since.get(member)
        active = since is not None
        day = self.proration.day(instant)
        in_window = instant >= self.proration.start
        if is_add and not active:
            self._since[member] = day
            self._open[member] = len(state.values)
            state.values.append((Decimal(1), ZERO))
            delta = 1
        elif not is_add and active:
            self._close(key, member, day)
            state.values.append((Decimal(-1), ZERO))
            delta = -1
        else:
            delta = 0
        if in_window:
            state.add_in_advance(Decimal(delta), self.proration.days_from(day), self.proration)

    def _close(self, key: Hashable, member: tuple[Hashable, str], until: date) -> None:
        since = self._since.pop(member)
        assert since is not None
        counted = self._counted.get(member)
        first = since if counted is None else max(since, counted + _ONE_DAY)
        days = self.proration.days_between(first, until)
        state = self.keys[key]
        if days:
            state.day_weighted = EXACT.add(state.day_weighted, Decimal(days))
            self._counted[member] = min(until, self.proration.last_day)
        index = self._open.pop(member)
        state.values[index] = (Decimal(1), ceil5(self.proration.ratio(days)))

    def finish(self) -> None:
        """Close the values still active at the window's end."""
        for member, since in list(self._since.items()):
            if since is not None:
                self._close(member[0], member, self.proration.last_day)
