"""``customers.portal_url(...)`` through ``lago-python-client`` against a real ``billow serve``: the link
opens the customer's portal page without an API key; another organization's customer is a 404."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def test_portal_url(server: Server, lago: Client, other_lago: Client, suffix: str) -> None:
    external_id = f"portal_{suffix}"
    lago.customers.create(Customer(external_id=external_id, name=f"Ada {suffix}", currency="EUR"))
    url = lago.customers.portal_url(external_id)
    assert url.startswith(f"{server.base_url}/portal/")
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200
    assert f"Ada {suffix}" in page.text
    assert (page.headers["referrer-policy"], page.headers["x-robots-tag"]) == ("no-referrer", "noindex")
    forged = url[:-5] + ("B" if url[-5] == "A" else "A") + url[-4:]
    assert httpx.get(forged, timeout=10).status_code == 403

    with pytest.raises(LagoApiError) as unknown:
        lago.customers.portal_url(f"nobody_{suffix}")
    assert (unknown.value.status_code, unknown.value.response["code"]) == (404, "customer_not_found")
    with pytest.raises(LagoApiError) as theirs:
        other_lago.customers.portal_url(external_id)
    assert theirs.value.status_code == 404
