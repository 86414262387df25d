"""Credits and money of a wallet: hand-computed cases (reference §6)."""

from __future__ import annotations

from decimal import Decimal as D

from billow.wallets.amounts import credit_value, floor_credits, round_credits, rounds_to_zero, value_of_cents


def test_credits_are_floored_to_five_decimals() -> None:
    assert floor_credits(D("1.234569")) == D("1.23456")
    assert floor_credits(D("0.000009")) == D("0")
    assert floor_credits(D("10")) == D("10.00000")


def test_division_results_round_half_up_to_five_decimals() -> None:
    assert round_credits(D("0.333333")) == D("0.33333")
    assert round_credits(D("0.166665")) == D("0.16667")


def test_rate_one() -> None:
    # 39 credits x 1 = 39.00 EUR = 3900 cents.
    value = credit_value(D("39.00"), D("1"), "EUR")
    assert (value.credits, value.amount, value.amount_cents) == (D("39"), D("39.00"), 3900)


def test_rate_one_and_a_half() -> None:
    # 10 credits x 1.5 = 15.00 EUR = 1500 cents; credits back: 15.00 / 1.5 = 10.
    value = credit_value(D("10.0"), D("1.5"), "EUR")
    assert (value.credits, value.amount, value.amount_cents) == (D("10"), D("15.00"), 1500)


def test_amount_rounds_half_up_and_credits_follow_the_rounded_amount() -> None:
    # 1.005 credits x 1 = 1.005 USD -> 1.01 (half up) = 101 cents; invoiceable credits = 1.01 / 1 = 1.01.
    value = credit_value(D("1.005"), D("1"), "USD")
    assert (value.credits, value.amount, value.amount_cents) == (D("1.01"), D("1.01"), 101)


def test_voided_credits_keep_what_was_sent() -> None:
    # Not invoiceable: the amount is still 1.01 USD but the credits stay 1.005.
    value = credit_value(D("1.005"), D("1"), "USD", invoiceable=False)
    assert (value.credits, value.amount_cents) == (D("1.005"), 101)


def test_rate_three_rederives_credits_with_five_decimals() -> None:
    # 0.16667 x 3 = 0.50001 -> 0.50 USD = 50 cents; 0.50 / 3 = 0.1666666... -> 0.16667.
    value = credit_value(D("0.16667"), D("3"), "USD")
    assert (value.credits, value.amount, value.amount_cents) == (D("0.16667"), D("0.50"), 50)


def test_zero_decimal_currency() -> None:
    # JPY has no minor unit: 10.5 x 1 = 10.5 -> 11 yen (half up); credits 11.
    value = credit_value(D("10.5"), D("1"), "JPY")
    assert (value.credits, value.amount_cents) == (D("11"), 11)


def test_three_decimal_currency() -> None:
    # KWD has 3: 1.23456 x 2 = 2.46912 -> 2.469 = 2469 fils; credits 2.469 / 2 = 1.2345.
    value = credit_value(D("1.23456"), D("2"), "KWD")
    assert (value.credits, value.amount, value.amount_cents) == (D("1.2345"), D("2.469"), 2469)


def test_sent_credits_beyond_five_decimals_are_floored_first() -> None:
    # 2.999999 -> 2.99999 x 1 = 2.99999 -> 3.00 USD.
    assert credit_value(D("2.999999"), D("1"), "USD").amount_cents == 300


def test_value_of_cents() -> None:
    # 1772 cents = 17.72 EUR at rate 1 = 17.72 credits.
    value = value_of_cents(1772, D("1"), "EUR")
    assert (value.credits, value.amount, value.amount_cents) == (D("17.72"), D("17.72"), 1772)
    # 100 cents = 1.00 USD at rate 3 = 0.333333... -> 0.33333 credits.
    assert value_of_cents(100, D("3"), "USD").credits == D("0.33333")


def test_rounds_to_zero() -> None:
    assert rounds_to_zero(D("0.004"), D("1"), "USD")  # 0.004 USD -> 0.00
    assert not rounds_to_zero(D("0.005"), D("1"), "USD")  # 0.005 -> 0.01
    assert not rounds_to_zero(D("0"), D("1"), "USD")  # nothing is not "rounds to zero"
    assert not rounds_to_zero(D("0.000001"), D("1000"), "USD")  # floored to 0 credits: nothing
    assert rounds_to_zero(D("0.00001"), D("100"), "USD")  # 0.001 USD -> 0.00
    assert not rounds_to_zero(D("0.00001"), D("1000"), "USD")  # 0.01 USD


def test_rate_is_kept_with_five_decimals() -> None:
    from billow.wallets.service import parse_rate

    assert parse_rate("1.123456") == D("1.12346")  # half up
    assert parse_rate("0.000001") == D("0.00000")  # then refused: not positive
    assert parse_rate("abc") is None
    assert parse_rate("1e30") == D("1e30")  # above the bound: refused by the caller
