"""``billow.kit.ids``: a ``lago_id`` that is not a UUID names no object."""

from __future__ import annotations

import uuid

import pytest

from billow.errors import NotFound
from billow.kit.ids import parse_lago_id, parse_uuid

ID = uuid.UUID("1a2b3c4d-0000-4000-8000-00000000abcd")


def test_parse_uuid() -> None:
    assert parse_uuid(str(ID)) == ID
    assert parse_uuid(str(ID).upper()) == ID
    assert parse_uuid(ID.hex) == ID
    for value in (None, "", "nope", str(ID)[:-1], f"{ID}0"):
        assert parse_uuid(value) is None


def test_parse_lago_id() -> None:
    assert parse_lago_id(str(ID), "invoice") == ID
    for value in (None, "", "nope"):
        with pytest.raises(NotFound) as raised:
            parse_lago_id(value, "credit_note")
        assert raised.value.code == "credit_note_not_found"
