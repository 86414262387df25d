"""``billow.kit.money``'s one rounding of precise minor units, and its named decimal contexts."""

from __future__ import annotations

from decimal import Decimal, Inexact, localcontext

import pytest

from billow.kit.money import CONTEXT, EXACT, QUANTIZE, USAGE_DIVISION, round_minor_units


class TestRoundMinorUnits:
    def test_halves_go_away_from_zero(self) -> None:
        assert round_minor_units(Decimal("100.5")) == 101
        assert round_minor_units(Decimal("-100.5")) == -101
        assert round_minor_units(Decimal("100.49999")) == 100
        assert round_minor_units(Decimal("0.5")) == 1
        assert round_minor_units(Decimal("-0.4")) == 0

    def test_integers_are_unchanged(self) -> None:
        assert round_minor_units(1234) == 1234
        assert round_minor_units(Decimal("1E+3")) == 1000

    def test_exact_whatever_the_thread_context(self) -> None:
        # 60 significant digits: more than the default context's 28, rounded only at the unit.
        precise = Decimal("1" * 59 + ".5")
        with localcontext() as context:
            context.prec = 5
            assert round_minor_units(precise) == int("1" * 58 + "2")

    def test_floats_and_non_finite_values_are_refused(self) -> None:
        with pytest.raises(TypeError):
            round_minor_units(1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            round_minor_units(True)
        with pytest.raises(ValueError):
            round_minor_units(Decimal("NaN"))
        with pytest.raises(ValueError):
            round_minor_units(Decimal("Infinity"))


class TestContexts:
    def test_money_context_rounds_half_up_at_100_digits(self) -> None:
        third = CONTEXT.divide(Decimal(100), Decimal(3))
        assert len(third.as_tuple().digits) == 100
        assert CONTEXT.divide(Decimal(2), Decimal(3)) == Decimal("0." + "6" * 99 + "7")

    def test_exact_context_raises_instead_of_rounding(self) -> None:
        assert EXACT.add(Decimal("1E+300"), Decimal("1E-90")) == Decimal("1" + "0" * 389 + "1E-90")
        with pytest.raises(Inexact):
            EXACT.add(Decimal("1E+300"), Decimal("1E-120"))

    def test_quantize_rounds_only_at_the_quantum(self) -> None:
        value = Decimal("1" * 300 + ".123456")
        assert value.quantize(Decimal("0.01"), context=QUANTIZE) == Decimal("1" * 300 + ".12")

    def test_usage_division_rounds_up(self) -> None:
        assert USAGE_DIVISION.divide(Decimal(1), Decimal(3)) == Decimal("0." + "3" * 79 + "4")
