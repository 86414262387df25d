"""JSON log lines with the request id (:mod:`billow.kit.logs`, ``BILLOW_LOG_FORMAT``)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest

from billow.config import Settings
from billow.kit import logs
from tests.conftest import Api


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The ``billow`` logger's records, as JSON lines, in a buffer."""
    stream = io.StringIO()
    handler = logs.handler("json")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logger = logging.getLogger("billow")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestJsonFormatter:
    def test_one_object_per_line_with_every_field(self, captured: io.StringIO) -> None:
        log = logging.getLogger("billow.tests")
        token = logs.request_id.set("req-42")
        try:
            log.info("billed %d invoice(s)\nsecond line", 3, extra={"organization": "org_1"})
        finally:
            logs.request_id.reset(token)
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("outside a request")
        first, second = lines(captured)
        assert set(first) == {"timestamp", "level", "logger", "message", "request_id", "organization"}
        assert first["level"] == "INFO"
        assert first["logger"] == "billow.tests"
        assert first["message"] == "billed 3 invoice(s)\nsecond line"  # escaped: still one line
        assert first["request_id"] == "req-42"
        assert first["organization"] == "org_1"
        assert first["timestamp"].endswith("+00:00")
        assert second["request_id"] is None
        assert second["level"] == "ERROR"
        assert second["exception"].startswith("Traceback")
        assert second["exception"].endswith("ValueError: broken")
        assert len(captured.getvalue().splitlines()) == 2

    def test_unknown_format_refused(self) -> None:
        with pytest.raises(ValueError, match="text or json"):
            logs.handler("xml")


class TestRequestId:
    def test_a_line_logged_while_serving_a_request_carries_its_id(
        self, api: Api, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from billow.taxes.service import tax_service

        create = tax_service.create

        def logged_create(*args: Any, **kwargs: Any) -> Any:
            # A synchronous endpoint runs in a worker thread: the request's context goes with it.
            logging.getLogger("billow.taxes").warning("creating a tax")
            return create(*args, **kwargs)

        monkeypatch.setattr(tax_service, "create", logged_create)
        body = {"tax": {"name": "VAT", "code": "vat", "rate": "20"}}
        response = api.client.post(
            "/api/v1/taxes", json=body, headers={**api.headers, "X-Request-Id": "req-7"}
        )
        assert response.status_code == 200, response.text
        api.post("/taxes", {"tax": {"name": "VAT", "code": "vat_2", "rate": "20"}})  # another id
        [first, second] = [line for line in lines(captured) if line["message"] == "creating a tax"]
        assert first["request_id"] == "req-7"
        assert second["request_id"] not in (None, "req-7")
        assert logs.request_id.get() is None  # reset after the request


class TestSetting:
    @pytest.mark.parametrize(
        ("env", "log_format", "expected"),
        [("development", None, "text"), ("production", None, "json"), ("production", "text", "text")],
    )
    def test_default_follows_the_environment(self, env: str, log_format: str | None, expected: str) -> None:
        settings = Settings(env=env, log_format=log_format)  # type: ignore[arg-type]
        assert settings.resolved_log_format == expected

    def test_uvicorn_lines_in_json_too(self) -> None:
        assert logs.uvicorn_options("text", "info") == {"log_level": "info"}
        options = logs.uvicorn_options("json", "info")
        names = ("uvicorn", "uvicorn.access", "billow")
        loggers = [logging.getLogger(name) for name in names]
        saved = {logger.name: {**logger.__dict__, "handlers": list(logger.handlers)} for logger in loggers}
        try:
            logging.config.dictConfig(options["log_config"])  # a valid configuration
            [handler] = logging.getLogger("uvicorn.access").handlers
            assert isinstance(handler.formatter, logs.JsonFormatter)
        finally:
            for name, state in saved.items():
                logger = logging.getLogger(name)
                logger.__dict__.clear()
                logger.__dict__.update(state)
