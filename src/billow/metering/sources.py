"""Which event store answers an aggregation (:class:`billow.metering.aggregation.UsageSource`), chosen
from the settings and the session's database:

* PostgreSQL with ``BILLOW_USAGE_ROLLUPS`` on (the default): :class:`RollupSource`,
  the usage rollups, falling back to the plain queries (``BILLOW_ROLLUP_ERRORS``: ``fallback``, the
  default, logs a rollup's database error and answers with the plain queries; ``raise`` raises it);
* anything else (SQLite, rollups switched off): :data:`billow.metering.aggregation.PLAIN`.

A caller that must read the events themselves (a closed window that an invoice bills) passes ``PLAIN``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.config import Settings, get_settings
from billow.metering import rollups
from billow.metering.aggregation import PLAIN, UsageSource
from billow.metering.aggregation.query import Partials, Query, Span


class RollupSource:
    """Answers from the usage rollups (:func:`billow.metering.rollups.partials`, refreshed first), and from
    ``fallback`` (the plain queries) whatever they do not answer: another aggregation type, no trigger, a
    transaction that cannot use them, a database error (unless ``raise_errors``)."""

    def __init__(self, *, raise_errors: bool = False, fallback: UsageSource = PLAIN) -> None:
        self.raise_errors = raise_errors
        self.fallback = fallback

    def partials(self, session: Session, query: Query, span: Span) -> Partials:
        found = rollups.partials(session, query, span.lower, span.to_datetime, raise_errors=self.raise_errors)
        return found if found is not None else self.fallback.partials(session, query, span)


def usage_source(session: Session, settings: Settings | None = None) -> UsageSource:
    """The source for usage queries on ``session`` (``settings``: default
    :func:`billow.config.get_settings`)."""
    settings = settings or get_settings()
    if not settings.usage_rollups or session.get_bind().dialect.name != "postgresql":
        return PLAIN
    return RollupSource(raise_errors=settings.rollup_errors == "raise")


__all__ = ["RollupSource", "usage_source"]
