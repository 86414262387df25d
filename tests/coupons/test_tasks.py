"""The coupons' clock: expired time-limited coupons are terminated (Lago's hourly job)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.coupons.tasks import terminate_expired
from billow.models.coupons import Coupon
from tests.fixtures import factories as f


def _coupon(session: Session, org, code: str, expiration_at: datetime | None) -> None:
    session.add(
        Coupon(
            organization_id=org.id,
            name=code,
            code=code,
            coupon_type="fixed_amount",
            amount_cents=100,
            amount_currency="USD",
            frequency="once",
            expiration="time_limit" if expiration_at else "no_expiration",
            expiration_at=expiration_at,
        )
    )


def test_terminates_expired_coupons_once(factory, session: Session) -> None:
    org = f.organization(session)
    _coupon(session, org, "expired", datetime(2024, 1, 1, tzinfo=UTC))
    _coupon(session, org, "later", datetime(2024, 3, 1, tzinfo=UTC))
    _coupon(session, org, "never", None)
    session.commit()
    now = datetime(2024, 2, 1, tzinfo=UTC)
    assert terminate_expired(factory, now) == 1
    assert terminate_expired(factory, now) == 0  # idempotent
    with factory() as s:
        rows = {c.code: (c.status, c.terminated_at) for c in s.scalars(select(Coupon))}
    assert rows == {"expired": ("terminated", now), "later": ("active", None), "never": ("active", None)}
