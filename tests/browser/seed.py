"""Demo data through the API, as a user would send it (shared by the browser tests and
``scripts/screenshots.py``): a metric, a graduated plan, a customer subscribed to it, usage events
(stamped on receipt, after the subscription started), a wallet. Codes carry ``suffix`` so several runs
share one server."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Demo:
    metric_code: str
    plan_code: str
    customer_id: str
    customer_lago_id: str
    subscription_id: str


def seed(base_url: str, api_key: str, suffix: str, events: int = 12) -> Demo:
    with httpx.Client(
        base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as api:
        return _seed(api, suffix, events)


def _seed(api: httpx.Client, suffix: str, events: int) -> Demo:

    def post(path: str, body: dict[str, object]) -> dict[str, object]:
        response = api.post(path, json=body)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return dict(response.json())

    metric = f"api_calls_{suffix}"
    post(
        "/billable_metrics",
        {"billable_metric": {"name": "API calls", "code": metric, "aggregation_type": "count_agg"}},
    )
    metric_id = post(
        "/billable_metrics",
        {
            "billable_metric": {
                "name": "Tokens",
                "code": f"tokens_{suffix}",
                "aggregation_type": "sum_agg",
                "field_name": "tokens",
            }
        },
    )["billable_metric"]["lago_id"]  # type: ignore[index]
    calls_id = api.get(f"/billable_metrics/{metric}").json()["billable_metric"]["lago_id"]
    plan = f"startup_{suffix}"
    post(
        "/plans",
        {
            "plan": {
                "name": "Startup",
                "code": plan,
                "interval": "monthly",
                "amount_cents": 4900,
                "amount_currency": "EUR",
                "pay_in_advance": True,
                "charges": [
                    {
                        "billable_metric_id": calls_id,
                        "charge_model": "graduated",
                        "properties": {
                            "graduated_ranges": [
                                {
                                    "from_value": 0,
                                    "to_value": 100,
                                    "per_unit_amount": "0.10",
                                    "flat_amount": "0",
                                },
                                {
                                    "from_value": 101,
                                    "to_value": None,
                                    "per_unit_amount": "0.05",
                                    "flat_amount": "0",
                                },
                            ]
                        },
                    },
                    {
                        "billable_metric_id": metric_id,
                        "charge_model": "standard",
                        "properties": {"amount": "0.002"},
                    },
                ],
            }
        },
    )
    customer = f"acme_{suffix}"
    lago_id = post(
        "/customers",
        {
            "customer": {
                "external_id": customer,
                "name": "Acme Corp",
                "email": "billing@acme.test",
                "currency": "EUR",
            }
        },
    )["customer"]["lago_id"]  # type: ignore[index]
    subscription = f"sub_{suffix}"
    post(
        "/subscriptions",
        {"subscription": {"external_customer_id": customer, "plan_code": plan, "external_id": subscription}},
    )
    post(
        "/events/batch",
        {
            "events": [
                {
                    "transaction_id": f"{suffix}-{i}",
                    "external_subscription_id": subscription,
                    "code": metric,
                }
                for i in range(events)
            ]
            + [
                {
                    "transaction_id": f"{suffix}-t",
                    "external_subscription_id": subscription,
                    "code": f"tokens_{suffix}",
                    "properties": {"tokens": 1500},
                }
            ]
        },
    )
    post(
        "/wallets",
        {
            "wallet": {
                "external_customer_id": customer,
                "rate_amount": "1",
                "currency": "EUR",
                "granted_credits": "20",
                "name": "Prepaid",
            }
        },
    )
    return Demo(metric, plan, customer, str(lago_id), subscription)
