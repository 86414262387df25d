"""Helpers of the dunning tests: campaigns through the API."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def campaign_body(code: str = "standard", **fields: Any) -> dict[str, Any]:
    return {
        "name": "Standard",
        "code": code,
        "days_between_attempts": 3,
        "max_attempts": 2,
        "thresholds": [{"currency": "EUR", "amount_cents": 1000}],
        **fields,
    }


def create_campaign(api: Api, code: str = "standard", **fields: Any) -> dict[str, Any]:
    response = api.post("/dunning_campaigns", json={"dunning_campaign": campaign_body(code, **fields)})
    assert response.status_code == 200, response.text
    return response.json()["dunning_campaign"]


def errors_of(response: Any) -> Any:
    assert response.status_code == 422, response.text
    return response.json()["error_details"]
