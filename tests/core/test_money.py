from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relief_pwa.core.errors import DomainError
from relief_pwa.core.money import MAX_FEN, fen_to_decimal, fen_to_decimal_str, format_yuan, parse_yuan


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12", 1200),
        ("12.5", 1250),
        ("12.50", 1250),
        ("0.01", 1),
        ("1,234.56", 123456),
        ("1,234,567", 123456700),
        ("１２", 1200),  # full-width digits
        ("１，２３４．５", 123450),  # full-width comma and full stop
        (" 740 ", 74000),
        ("¥740", 74000),
        ("￥7.4", 740),
        ("740元", 74000),
        ("007", 700),
        ("1000000000", MAX_FEN),
    ],
)
def test_parse_yuan_accepts(text: str, fen: int) -> None:
    assert parse_yuan(text, field="amount") == fen


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("", "Enter an amount"),
        ("   ", "Enter an amount"),
        ("-5", "negative"),
        ("−5", "negative"),
        ("1.234", "two decimal"),
        ("0.001", "two decimal"),
        ("abc", "for example"),
        ("12,34", "for example"),
        ("1.2.3", "for example"),
        ("1e5", "for example"),
        ("١٢", "for example"),  # Arabic-Indic digits are not yuan
        ("1000000000.01", "too large"),
        ("NaN", "for example"),
        ("+5", "for example"),  # no signs: "+" starts a spreadsheet formula
        ("＋5", "for example"),
        ("1 000", "for example"),  # spaces inside the number are ambiguous
        ("1²", "for example"),  # NFKC would have made this "12"
        ("①", "for example"),
        ("9" * 5000, "for example"),  # bounded before int()
        ("1,00", "for example"),
        ("1,0000", "for example"),
        (".5", "for example"),
        ("5.", "for example"),
    ],
)
def test_parse_yuan_refuses_with_field(text: str, message_part: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_yuan(text, field="budget")
    assert caught.value.field == "budget"
    assert message_part in caught.value.message


@pytest.mark.parametrize(
    ("fen", "shown", "plain"),
    [
        (0, "0.00", "0.00"),
        (5, "0.05", "0.05"),
        (123456, "1,234.56", "1234.56"),
        (132000, "1,320.00", "1320.00"),
        (-250, "-2.50", "-2.50"),
        (100000000000, "1,000,000,000.00", "1000000000.00"),
    ],
)
def test_format(fen: int, shown: str, plain: str) -> None:
    assert format_yuan(fen) == shown
    assert fen_to_decimal_str(fen) == plain
    assert fen_to_decimal(fen) == Decimal(plain)


@given(st.integers(min_value=0, max_value=MAX_FEN))
def test_format_then_parse_round_trips(fen: int) -> None:
    assert parse_yuan(format_yuan(fen), field="x") == fen
    assert parse_yuan(fen_to_decimal_str(fen), field="x") == fen
