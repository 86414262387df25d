"""Applied coupons through ``lago-python-client``: apply, list, terminate (the client parses every answer)."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AppliedCoupon, Coupon, Customer

pytestmark = pytest.mark.e2e


def test_apply_list_terminate(lago: Client, other_lago: Client, suffix: str) -> None:
    coupon = lago.coupons.create(
        Coupon(
            name="Welcome",
            code=f"welcome_{suffix}",
            coupon_type="fixed_amount",
            amount_cents=1500,
            amount_currency="EUR",
            frequency="once",
            expiration="no_expiration",
            reusable=False,
        )
    )
    customer = lago.customers.create(Customer(external_id=f"ac_{suffix}", name="Ada"))

    applied = lago.applied_coupons.create(
        AppliedCoupon(external_customer_id=customer.external_id, coupon_code=coupon.code, amount_cents=1000)
    )
    assert (applied.lago_coupon_id, applied.lago_customer_id) == (coupon.lago_id, customer.lago_id)
    assert (applied.status, applied.amount_cents, applied.amount_cents_remaining) == ("active", 1000, 1000)
    assert applied.amount_currency == "EUR" and applied.frequency == "once"

    with pytest.raises(LagoApiError) as again:
        lago.applied_coupons.create(
            AppliedCoupon(external_customer_id=customer.external_id, coupon_code=coupon.code)
        )
    assert again.value.status_code == 422
    assert again.value.response["error_details"] == {"coupon": ["coupon_is_not_reusable"]}

    listed = lago.applied_coupons.find_all({"external_customer_id": customer.external_id})
    assert [a.lago_id for a in listed["applied_coupons"]] == [applied.lago_id]
    assert listed["meta"]["total_count"] == 1
    assert other_lago.applied_coupons.find_all()["applied_coupons"] == []

    terminated = lago.applied_coupons.destroy(customer.external_id, applied.lago_id)
    assert terminated.status == "terminated" and terminated.terminated_at is not None
    active = lago.applied_coupons.find_all({"external_customer_id": customer.external_id, "status": "active"})
    assert active["applied_coupons"] == []
