"""The coupons' clock (Lago terminates expired coupons every hour): a ``time_limit`` coupon whose
``expiration_at`` has passed becomes ``terminated`` and can no longer be applied. Coupons already applied
to customers keep applying until consumed or terminated themselves."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from billow.models.coupons import Coupon
from billow.worker.scans import SessionFactory, scan


@scan("coupons.terminate_expired", every=timedelta(hours=1))
def terminate_expired(session_factory: SessionFactory, now: datetime) -> int:
    """Terminate the active coupons past their ``expiration_at``; the number terminated."""
    with session_factory() as session, session.begin():
        result = session.execute(
            update(Coupon)
            .where(
                Coupon.status == "active",
                Coupon.expiration == "time_limit",
                Coupon.expiration_at <= now,
            )
            .values(status="terminated", terminated_at=now, updated_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
