"""Real processes: ``billow serve`` bills by itself on SQLite (in-process scheduler); on PostgreSQL with
``BILLOW_SCHEDULER=off`` (deployments that run workers), ``billow serve`` leaves the scans to
``billow worker``, which bills. (The default on PostgreSQL, one elected server running the scans, is
tested in tests/e2e/test_immediate.py.)"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import _backends, create_throwaway_database
from tests.e2e.conftest import _billow_command, _free_port, _wait_healthy

pytestmark = pytest.mark.e2e


@contextmanager
def _process(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen([*_billow_command(), *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _prepare_from_models(url: str) -> None:
    """Create the tables from the models and stamp the migrations as applied, so these tests do not
    depend on the migrations being regenerated for the newest columns (``tests/test_migrations.py`` and
    ``tests/e2e`` cover migrating); ``billow serve`` then finds nothing to upgrade."""
    from alembic import command

    from billow.db import make_engine
    from billow.migrate import alembic_config
    from billow.models import metadata

    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    command.stamp(alembic_config(url), "head")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
    env["BILLOW_DATA_DIR"] = str(tmp_path / "data")
    env["BILLOW_API_KEY"] = "worker_" + secrets.token_hex(16)
    env.update(extra)
    return env


def _subscribe_backdated(base_url: str, api_key: str) -> None:
    """A customer subscribed 40 days ago to a 10.00/month plan: at least one period is over (billed when
    the server bills backdated periods: ``BILLOW_BILL_BACKDATED_PERIODS``)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=f"{base_url}/api/v1", headers=headers, timeout=10) as api:
        started = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for path, body in [
            ("/customers", {"customer": {"external_id": "cus_w", "name": "W", "currency": "USD"}}),
            (
                "/plans",
                {
                    "plan": {
                        "name": "Monthly",
                        "code": "monthly_w",
                        "interval": "monthly",
                        "amount_cents": 1000,
                        "amount_currency": "USD",
                    }
                },
            ),
            (
                "/subscriptions",
                {
                    "subscription": {
                        "external_customer_id": "cus_w",
                        "plan_code": "monthly_w",
                        "external_id": "sub_w",
                        "subscription_at": started,
                    }
                },
            ),
        ]:
            response = api.post(path, json=body)
            assert response.status_code == 200, response.text


def _wait_for_invoices(base_url: str, api_key: str, log_paths: list[Path], timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{base_url}/api/v1/invoices", headers={"Authorization": f"Bearer {api_key}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        if invoices := response.json()["invoices"]:
            return invoices
        time.sleep(0.3)
    logs = "\n".join(path.read_text() for path in log_paths)
    raise AssertionError(f"no invoice after {timeout}s:\n{logs}")


@pytest.mark.skipif("sqlite" not in _backends(), reason="SQLite backend not selected")
def test_serve_on_sqlite_bills_by_itself(tmp_path: Path) -> None:
    env = _env(tmp_path, BILLOW_SCAN_INTERVAL="0.5", BILLOW_BILL_BACKDATED_PERIODS="true")
    (tmp_path / "data").mkdir()
    _prepare_from_models(f"sqlite:///{tmp_path / 'data' / 'billow.db'}")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with _process(["serve", "--port", str(port)], env, log_path) as process:
        _wait_healthy(base_url, process, log_path)
        _subscribe_backdated(base_url, env["BILLOW_API_KEY"])
        invoices = _wait_for_invoices(base_url, env["BILLOW_API_KEY"], [log_path])
    assert invoices[0]["customer"]["external_id"] == "cus_w"
    assert invoices[0]["invoice_type"] == "subscription"
    assert "run inside this server" in log_path.read_text()


@pytest.mark.skipif("sqlite" not in _backends(), reason="SQLite backend not selected")
def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    result = subprocess.run(
        [*_billow_command(), "worker"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "`billow serve` runs the background scans itself" in result.stderr


@pytest.mark.skipif("postgresql" not in _backends(), reason="PostgreSQL backend not selected")
def test_serve_and_workers_on_postgresql(tmp_path: Path) -> None:
    database, drop = create_throwaway_database("postgresql", tmp_path)
    try:
        _prepare_from_models(database.url)
        _serve_and_workers(tmp_path, database.url)
    finally:
        drop()


def _serve_and_workers(tmp_path: Path, url: str) -> None:
    env = _env(
        tmp_path,
        BILLOW_DATABASE_URL=url,
        BILLOW_SCAN_INTERVAL="1",
        BILLOW_BILL_BACKDATED_PERIODS="true",
        BILLOW_SCHEDULER="off",
    )
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    serve_log, worker_logs = tmp_path / "serve.log", [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    with _process(["serve", "--port", str(port)], env, serve_log) as server:
        _wait_healthy(base_url, server, serve_log)
        assert "run `billow worker`" in serve_log.read_text()
        _subscribe_backdated(base_url, env["BILLOW_API_KEY"])
        time.sleep(1.5)  # nothing bills without a worker
        assert (
            httpx.get(
                f"{base_url}/api/v1/invoices",
                headers={"Authorization": f"Bearer {env['BILLOW_API_KEY']}"},
            ).json()["invoices"]
            == []
        )
        with (
            _process(["worker", "--concurrency", "2"], env, worker_logs[0]),
            _process(["worker"], env, worker_logs[1]),
        ):
            invoices = _wait_for_invoices(base_url, env["BILLOW_API_KEY"], [serve_log, *worker_logs])
            time.sleep(2)  # more scans: still one invoice per period
            again = httpx.get(
                f"{base_url}/api/v1/invoices",
                headers={"Authorization": f"Bearer {env['BILLOW_API_KEY']}"},
            ).json()["invoices"]
    assert invoices[0]["customer"]["external_id"] == "cus_w"
    assert sorted(i["lago_id"] for i in again) == sorted({i["lago_id"] for i in again})
    assert len({(i["issuing_date"]) for i in again}) == len(again)
