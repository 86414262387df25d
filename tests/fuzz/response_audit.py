"""Opt-in pytest plugin: checks every answer the test suite gets against the OpenAPI document.

``pytest tests --ignore=tests/e2e -p tests.fuzz.response_audit`` validates each response of the test
clients (status documented, body valid against the documented schema) and lists the violations at the
end. The API tests reach states the fuzzer rarely builds (plans with charges, invoices, credit notes...).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.testclient import TestClient

VIOLATIONS: Counter[tuple[str, str, str]] = Counter()
EXAMPLES: dict[tuple[str, str, str], str] = {}
CHECKED = [0]


def _audit(method: str, url: str, response: Any) -> None:
    from tests.fuzz.test_openapi_fuzz import api_schema

    path = str(response.request.url.path)
    if not path.startswith("/api/v1/") or path.startswith("/api/v1/docs") or path.endswith("openapi.json"):
        return
    operation = api_schema().find_operation_by_path(method.upper(), path)
    if operation is None:
        return
    CHECKED[0] += 1
    label = f"{method.upper()} {operation.path}"
    status = str(response.status_code)
    if status not in operation.definition.raw.get("responses", {}):
        key = (label, status, "undocumented status")
    else:
        try:
            operation.validate_response(response)
            return
        except BaseException as exc:  # schemathesis' failure (group)
            failures = getattr(exc, "exceptions", [exc])
            text = " | ".join(str(getattr(f, "message", f)).splitlines()[0][:160] for f in failures)
            key = (label, status, text)
    VIOLATIONS[key] += 1
    EXAMPLES.setdefault(key, f"{method.upper()} {url} -> {response.text[:300]}")


def pytest_configure(config: Any) -> None:
    original = TestClient.request

    def request(self: TestClient, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, method, url, *args, **kwargs)
        _audit(method, str(url), response)
        return response

    TestClient.request = request  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.section("OpenAPI response audit")
    terminalreporter.write_line(f"{CHECKED[0]} responses checked, {sum(VIOLATIONS.values())} violations")
    for key, count in VIOLATIONS.most_common():
        terminalreporter.write_line(f"  x{count} {key[0]} [{key[1]}] {key[2]}")
        terminalreporter.write_line(f"      {EXAMPLES[key]}")
