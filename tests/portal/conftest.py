"""A customer with usage, invoices and a wallet, built through the API; opening its portal link."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tests.billing.test_immediate import ok
from tests.conftest import Api

CUSTOMER = "cus_portal"
SUBSCRIPTION = "sub_portal"


def portal_path(api: Api, external_id: str = CUSTOMER) -> str:
    """The path of the customer's portal link (``GET /customers/{id}/portal_url``)."""
    url = ok(api.get(f"/customers/{external_id}/portal_url"))["customer"]["portal_url"]
    return urlsplit(url).path


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def customer(api: Api, external_id: str = CUSTOMER, **extra: Any) -> dict[str, Any]:
    body = {"external_id": external_id, "name": "Ada Lovelace", "currency": "EUR", **extra}
    return dict(ok(api.post("/customers", {"customer": body}))["customer"])


def metered(api: Api, external_id: str = CUSTOMER) -> None:
    """Two metrics priced 0.25 EUR a call and 1.50 EUR a GB on a monthly plan, a subscription, and events
    through ``POST /events/batch``: 7 calls (1.75 EUR) and 3.5 GB (5.25 EUR), 7.00 EUR in all."""
    calls = {"name": "API calls", "code": "calls", "aggregation_type": "count_agg"}
    storage = {"name": "Storage", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"}
    ids = [
        ok(api.post("/billable_metrics", {"billable_metric": m}))["billable_metric"]["lago_id"]
        for m in (calls, storage)
    ]
    charges = [
        {"billable_metric_id": ids[0], "charge_model": "standard", "properties": {"amount": "0.25"}},
        {"billable_metric_id": ids[1], "charge_model": "standard", "properties": {"amount": "1.5"}},
    ]
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 0,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "charges": charges,
    }
    ok(api.post("/plans", {"plan": plan}))
    customer(api, external_id)
    body = {"external_customer_id": external_id, "plan_code": "pro", "external_id": SUBSCRIPTION}
    ok(api.post("/subscriptions", {"subscription": body}))
    events = [
        {"transaction_id": f"call_{n}", "external_subscription_id": SUBSCRIPTION, "code": "calls"}
        for n in range(7)
    ] + [
        {
            "transaction_id": f"gb_{n}",
            "external_subscription_id": SUBSCRIPTION,
            "code": "gb",
            "properties": {"gb": gb},
        }
        for n, gb in enumerate(("1.5", "2"))
    ]
    ok(api.post("/events/batch", {"events": events}))


def cells(html: str, row_label: str) -> list[str]:
    """The cells' texts of the table row whose header is ``row_label``."""
    match = re.search(
        rf"<tr[^>]*>\s*<th scope=\"row\">{re.escape(row_label)}</th>(.*?)</tr>", html, re.DOTALL
    )
    assert match, f"no row {row_label!r}"
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.DOTALL)
    ]
