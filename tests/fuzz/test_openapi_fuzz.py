"""Property-based fuzzing of the whole API from its OpenAPI document (schemathesis + Hypothesis).

Every operation of ``/api/v1/openapi.json`` gets generated requests, schema-valid ones and (about a
third) schema-invalid ones, most with the organization's API key, some with none or a wrong one. Each
answer must be no server error, a documented status code, a documented content type and a body that
validates against the documented schema; an unauthenticated request must get 401 (or the router's 404).

Bounded for CI: ``BILLOW_FUZZ_EXAMPLES`` cases per operation (default 16: under a minute per database on
the CI machine), derandomized (``BILLOW_FUZZ_SEED`` changes the cases), e.g. ``BILLOW_FUZZ_EXAMPLES=500``
for a long run. The figures are printed at the end of the run (``conftest.py``).

Every server error and every violation fails its operation's test. A cause known and tracked elsewhere can
be listed in ``KNOWN_OPEN`` (empty today): counted and reported but tolerated, unless
``BILLOW_FUZZ_STRICT=1``. ``pytest tests --ignore=tests/e2e -p tests.fuzz.response_audit`` checks the API
tests' own answers against the same document.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import traceback
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import billow
from billow.app import create_app
from billow.config import Settings
from tests.conftest import Api, ThrowawayDatabase, _wipe, make_organization
from tests.fuzz.report import Finding, FuzzStats, stats_for

EXAMPLES = int(os.environ.get("BILLOW_FUZZ_EXAMPLES", "16"))
SEED = int(os.environ.get("BILLOW_FUZZ_SEED", "9"))
STRICT = os.environ.get("BILLOW_FUZZ_STRICT", "") not in ("", "0")

#: Causes of server errors tracked elsewhere (cause -> issue): counted and reported, tolerated. Empty since
#: issue 9's fixes landed; keep it so.
KNOWN_OPEN: dict[str, str] = {}

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@cache
def openapi_document() -> dict[str, Any]:
    return create_app(Settings(database_url="sqlite://"), dispatch="off").openapi()


@cache
def api_schema() -> Any:
    return schemathesis.openapi.from_dict(openapi_document())


def operation_labels() -> list[str]:
    return [
        f"{method.upper()} {path}"
        for path, methods in openapi_document()["paths"].items()
        for method in methods
    ]


def can_be_negated(label: str) -> bool:
    """Whether schema-invalid requests exist: a body or a query parameter with a type (path
    parameters are free strings; Hypothesis would search for a negation in vain)."""
    method, path = label.split(" ", 1)
    operation = openapi_document()["paths"][path][method.lower()]
    return "requestBody" in operation or any(
        parameter["in"] == "query" for parameter in operation.get("parameters", [])
    )


def _operation(label: str) -> Any:
    method, path = label.split(" ", 1)
    return api_schema()[path][method]


# --------------------------------------------------------------------------------------------------
# Server errors: their cause
# --------------------------------------------------------------------------------------------------


def _messages(exc: BaseException) -> str:
    parts = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 5:
        parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts)


def _page_is_huge(kwargs: dict[str, Any]) -> bool:
    params = kwargs.get("params") or {}
    try:
        return int(str(params.get("page", "1"))) > 10**15
    except ValueError:
        return False


def classify(error: str, kwargs: dict[str, Any]) -> str:
    """A short name for the cause of a server error (``KNOWN_OPEN`` keys), else the error itself."""
    if re.search(r"NUL \(0x00\)|\\x00|0x00|null character", error, re.IGNORECASE):
        return "nul-character"
    if re.search(r"StringDataRightTruncation|value too long", error):
        return "string-too-long"
    if re.search(
        r"out of range|OverflowError|too large to convert|int too big|NumericValueOutOfRange", error
    ):
        return "huge-page" if _page_is_huge(kwargs) else "integer-out-of-range"
    return error.splitlines()[0][:200] if error else "no cause known"


# --------------------------------------------------------------------------------------------------
# One request
# --------------------------------------------------------------------------------------------------


def _reproduction(kwargs: dict[str, Any], auth: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in (kwargs.get("params") or {}).items())
    text = f"{kwargs['method']} {kwargs['url']}{'?' + query if query else ''} [{auth} key]"
    body = kwargs.get("json", kwargs.get("data"))
    if body is not None:
        dumped = json.dumps(body, ensure_ascii=True, default=str)
        text += f" {dumped[:300]}{'...' if len(dumped) > 300 else ''}"
    return text


def _send(api: Api, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    """The response, or ``None`` and the exception's text when the app raised (a 500)."""
    request: dict[str, Any] = {
        key: kwargs[key] for key in ("method", "url", "headers", "params") if key in kwargs
    }
    if kwargs.get("cookies"):
        cookie = "; ".join(f"{name}={value}" for name, value in kwargs["cookies"].items())
        request["headers"] = {**request.get("headers", {}), "Cookie": cookie}
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    try:
        return api.client.request(**request), None
    except Exception as exc:
        if not _raised_by_app(exc):  # the test client refused the request: a bug of this test
            raise
        return None, _messages(exc)  # the app's unhandled exception, re-raised by the test client


APP_SOURCES = str(Path(billow.__file__).parent) + os.sep


def _raised_by_app(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(frame.filename.startswith(APP_SOURCES) for frame in frames)


def run_case(api: Api, stats: FuzzStats, label: str, case: Any, auth: str) -> None:
    headers: dict[str, str] = {}
    if auth == "valid":
        headers["Authorization"] = f"Bearer {api.key}"
    elif auth == "wrong":
        headers["Authorization"] = "Bearer not-a-key-of-anyone"
    kwargs = case.as_transport_kwargs(headers=headers)
    if auth == "no":
        kwargs["headers"].pop("Authorization", None)
    stats.cases += 1
    stats.operations.add(label)
    if auth != "valid":
        stats.unauthenticated += 1
    response, error = _send(api, kwargs)
    status = "500" if response is None else str(response.status_code)
    stats.statuses[status[0] + "xx"] += 1
    reproduction = _reproduction(kwargs, auth)
    if response is None or response.status_code >= 500:
        cause = classify(error or (response.text if response is not None else ""), kwargs)
        stats.add(Finding("5xx", label, cause, KNOWN_OPEN.get(cause), reproduction))
        return
    protected = kwargs["url"].startswith("/api/v1/")
    if auth != "valid" and protected:
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body = response.json() if is_json else {}
        routed_404 = response.status_code == 404 and body.get("code") == "resource_not_found"
        if response.status_code != 401 and not routed_404:
            cause = f"unauthenticated request answered {status}"
            error_text = str(body.get("error", ""))
            malformed = "malformed JSON" in error_text or "parsing the body" in error_text
            if response.status_code == 400 and malformed:
                cause = "malformed-body-before-auth"
            stats.add(Finding("schema", label, cause, KNOWN_OPEN.get(cause), reproduction))
    try:
        case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])
    except BaseException as exc:  # schemathesis' FailureGroup or one Failure
        failures = getattr(exc, "exceptions", [exc])
        for failure in failures:
            title = failure.title if isinstance(failure, Failure) else type(failure).__name__
            message = str(getattr(failure, "message", failure)).strip().splitlines()
            cause = f"{title} ({status}): {' '.join(message[:3])[:200]}"
            stats.add(Finding("schema", label, cause, None, reproduction))


AUTH = st.sampled_from(["valid"] * 8 + ["no", "wrong"])


def fuzz(api: Api, stats: FuzzStats, label: str, mode: GenerationMode, examples: int) -> None:
    operation = _operation(label)
    try:
        strategy = operation.as_strategy(generation_mode=mode)
    except Exception:  # nothing in this operation can be made schema-invalid
        return

    @seed(SEED)
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=["explicit", "generate"],
        print_blob=False,
    )
    @given(case=strategy, auth=AUTH)
    def check(case: Any, auth: str) -> None:
        run_case(api, stats, label, case, auth)

    with contextlib.suppress(Unsatisfiable):  # e.g. no parameter at all to make schema-invalid
        check()


@pytest.fixture(scope="module")
def fuzz_api(app: FastAPI) -> Iterator[Api]:
    """One organization for the whole run (the objects the fuzzer creates stay: later operations
    meet them), wiped at the end; cheaper than the per-test ``api`` fixture on PostgreSQL."""
    with TestClient(app) as client:
        organization, key = make_organization(app, "Acme")
        yield Api(client, key, organization)
    _wipe(app.state.engine)


@pytest.mark.parametrize("label", operation_labels())
def test_operation(label: str, fuzz_api: Api, database: ThrowawayDatabase) -> None:
    api = fuzz_api
    stats = stats_for(database.backend)
    before = set(stats.findings)
    negative = EXAMPLES // 3 if can_be_negated(label) else 0
    fuzz(api, stats, label, GenerationMode.POSITIVE, EXAMPLES - negative)
    if negative:
        fuzz(api, stats, label, GenerationMode.NEGATIVE, negative)
    new = [stats.findings[key] for key in stats.findings if key not in before]
    failing = [f for f in new if f.owner is None or STRICT]
    assert not failing, "\n".join(f"{f.kind} {f.cause}\n    {f.reproduction}" for f in failing)
