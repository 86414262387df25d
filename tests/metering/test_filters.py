"""The charge filter rule (:mod:`billow.metering.filters`), as pure Python: ``__ALL_FILTER_VALUES__``, the
ranking of filters, the filter an event matches, and a property's text."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from billow.metering.filters import ChargeFilterSpec, matching_filter, property_text, ranked, resolve_values


class TestFilterRule:
    def test_resolve_all_values(self) -> None:
        resolved = resolve_values(
            {"region": ["__ALL_FILTER_VALUES__"], "cloud": ["aws"]},
            {"region": ["us", "eu"], "cloud": ["aws"]},
        )
        assert resolved == {"region": ("us", "eu"), "cloud": ("aws",)}

    def test_ranking_and_matching(self) -> None:
        broad = ChargeFilterSpec(uuid.uuid4(), {"region": ("us", "eu")})
        narrow = ChargeFilterSpec(uuid.uuid4(), {"region": ("us",)})
        deep = ChargeFilterSpec(uuid.uuid4(), {"region": ("us", "eu"), "cloud": ("aws",)})
        specs = [broad, narrow, deep]
        assert ranked(specs) == [2, 1, 0]
        assert matching_filter({"region": "us", "cloud": "aws"}, specs) == 2
        assert matching_filter({"region": "us"}, specs) == 1
        assert matching_filter({"region": "eu", "cloud": "gcp"}, specs) == 0
        assert matching_filter({"cloud": "aws"}, specs) is None

    @pytest.mark.parametrize(
        ("value", "text"),
        [("a", "a"), (1, "1"), (2.5, "2.5"), (Decimal("1.50"), "1.50"), (True, "true"), (None, None)],
    )
    def test_property_text(self, value: object, text: str | None) -> None:
        assert property_text(value) == text
