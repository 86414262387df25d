"""The audit log read through ``lago-python-client`` (``activity_logs``, ``api_logs``) on a real server."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Tax

pytestmark = pytest.mark.e2e


def test_activity_and_api_logs(lago: Client, other_lago: Client, suffix: str) -> None:
    code = f"vat_{suffix}"
    tax = lago.taxes.create(Tax(name="VAT", code=code, rate=20.0))
    lago.taxes.update(Tax(name="TVA"), code)

    found = lago.activity_logs.find_all({"resource_ids[]": tax.lago_id, "per_page": 10})
    logs = found["activity_logs"]
    assert [log.activity_type for log in logs] == ["tax.updated", "tax.created"]
    assert {log.activity_source for log in logs} == {"api"}
    assert logs[0].activity_object_changes == {"name": ["VAT", "TVA"]}
    assert logs[0].resource_type == "Tax"
    one = lago.activity_logs.find(logs[1].activity_id)
    assert one.activity_type == "tax.created"
    assert one.activity_object is not None and one.activity_object["code"] == code

    api_logs = lago.api_logs.find_all({"request_paths": f"/taxes/{code}", "per_page": 10})["api_logs"]
    assert len(api_logs) == 1
    update = api_logs[0]
    assert (update.http_method, update.http_status, update.api_version) == ("put", 200, "v1")
    assert update.client.startswith("Lago Python")
    assert update.request_body == {"tax": {"name": "TVA"}}
    assert lago.api_logs.find(update.request_id).request_path == f"/api/v1/taxes/{code}"

    with pytest.raises(LagoApiError) as caught:
        other_lago.activity_logs.find(logs[0].activity_id)
    assert caught.value.status_code == 404
    assert other_lago.activity_logs.find_all({"resource_ids[]": tax.lago_id})["activity_logs"] == []
