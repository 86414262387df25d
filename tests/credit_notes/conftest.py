"""Fixtures of the credit-note tests."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.credit_notes.manual_world import billed_invoice


@pytest.fixture
def invoice(app: FastAPI, api: Api, bill_backdated_periods: None) -> dict[str, Any]:
    return billed_invoice(app, api)
