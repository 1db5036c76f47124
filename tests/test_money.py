from decimal import Decimal

import pytest

from router.errors import InvalidRequestError
from router.money import format_usd, parse_money, per_million


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.002", Decimal("0.002")), (Decimal("1.5"), Decimal("1.5")), (3, Decimal(3)),
     (0.1, Decimal("0.1")), ("$2.50", Decimal("2.50")), (" 1_000 ", Decimal(1000))],
)
def test_parse_money_is_exact(value: object, expected: Decimal) -> None:
    assert parse_money(value, field="budget") == expected


@pytest.mark.parametrize("value", ["-1", -0.5, "abc", "nan", "inf", None, True, [1]])
def test_parse_money_rejects_bad_input_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="^budget: "):
        parse_money(value, field="budget")


def test_zero_can_be_refused() -> None:
    with pytest.raises(InvalidRequestError, match="more than zero"):
        parse_money("0", field="limit", allow_zero=False)


def test_per_million_and_format() -> None:
    assert per_million(1_000, Decimal("0.15")) == Decimal("0.00015")
    assert format_usd(Decimal("6.2E-7")) == "$0.00000062"
    assert format_usd(Decimal(0)) == "$0"


def test_money_prints_in_plain_digits_never_in_exponent_form() -> None:
    from router.money import plain_usd

    for amount in (Decimal("3.4E-7"), Decimal("0.000000340"), Decimal(340) / 10**9):
        assert format_usd(amount) == "$0.00000034"
        assert plain_usd(amount) == "0.00000034"
        assert Decimal(plain_usd(amount)) == amount
    assert plain_usd(Decimal(0)) == "0"
    assert format_usd(Decimal("-1E-8")) == "-$0.00000001"
