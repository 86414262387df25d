from __future__ import annotations

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Tax

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def test_health(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/health")
    assert response.status_code == 200


def test_organization_through_client(lago: Client) -> None:
    organization = lago.organizations.update(
        __import__("lago_python_client.models", fromlist=["Organization"]).Organization(
            default_currency="EUR", timezone="Europe/Paris"
        )
    )
    assert organization.timezone == "Europe/Paris"


def test_bad_key_is_401(server: Server) -> None:
    with pytest.raises(LagoApiError) as error:
        server.client("wrong").taxes.find_all()
    assert error.value.status_code == 401


def test_tax_round_trip_and_isolation(lago: Client, other_lago: Client, suffix: str) -> None:
    code = f"vat_{suffix}"
    created = lago.taxes.create(Tax(name="VAT", code=code, rate=20.0))
    assert created.code == code and created.rate == 20.0
    assert lago.taxes.find(code).lago_id == created.lago_id
    with pytest.raises(LagoApiError) as error:
        other_lago.taxes.find(code)
    assert error.value.status_code == 404
    assert error.value.response["code"] == "tax_not_found"
