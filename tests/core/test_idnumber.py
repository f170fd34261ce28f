from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relief_pwa.core import idnumber
from relief_pwa.core.enums import Sex
from relief_pwa.core.errors import DomainError
from relief_pwa.core.idnumber import (
    JINAN_AREA_CODES,
    IdNumber,
    check_digit,
    check_id_matches,
    is_jinan_area,
    make_id_number,
    mask_id_number,
    parse_id_number,
)

AS_OF = date(2026, 11, 27)


def _with_check(body17: str) -> str:
    return body17 + check_digit(body17)


# --- check digit -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("36042619910101007", "1"),  # python-stdnum doctest (domain_cn.md §3.1)
        ("37010219900101123", "1"),  # synthetic worked example (domain_cn.md §3.1)
        ("11010519491231002", "X"),  # widely published sample number
    ],
)
def test_check_digit_worked_examples(body: str, expected: str) -> None:
    assert check_digit(body) == expected


def test_check_digit_matches_closed_form() -> None:
    # python-stdnum's equivalent formula: (1 - 2 * int(body, 13)) mod 11, 10 -> X.
    for sequence in range(0, 1000, 7):
        body = f"37010219850615{sequence:03d}"
        value = (1 - 2 * int(body, 13)) % 11
        assert check_digit(body) == ("X" if value == 10 else str(value))


@pytest.mark.parametrize("bad", ["", "3701021990010112", "370102199001011234", "3701021990010112A"])
def test_check_digit_rejects_bad_body(bad: str) -> None:
    with pytest.raises(ValueError):
        check_digit(bad)


# --- parsing: good numbers -------------------------------------------------


def test_parse_stdnum_example() -> None:
    parsed = parse_id_number("360426199101010071", AS_OF)
    assert parsed == IdNumber(
        number="360426199101010071", area_code="360426", birth_date=date(1991, 1, 1), sex=Sex.MALE
    )


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("370102199001011231", "370102199001011231"),
        (" 370102 19900101 1231 ", "370102199001011231"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),  # full-width, IME input
        ("11010519491231002x", "11010519491231002X"),
        ("11010519491231002X", "11010519491231002X"),
    ],
)
def test_parse_normalises(raw: str, number: str) -> None:
    assert parse_id_number(raw, AS_OF).number == number


@pytest.mark.parametrize(
    ("sequence", "sex"), [(1, Sex.MALE), (123, Sex.MALE), (2, Sex.FEMALE), (998, Sex.FEMALE)]
)
def test_sex_from_sequence_parity(sequence: int, sex: Sex) -> None:
    parsed = parse_id_number(make_id_number("370102", date(1980, 2, 29), sequence), AS_OF)
    assert parsed.sex is sex
    assert parsed.sequence == sequence
    assert parsed.birth_date == date(1980, 2, 29)


@pytest.mark.parametrize(
    "area_code", ["370121", "370122", "370123", "370125", "370181", "371202", "371203", "370112", "370126"]
)
def test_historic_and_current_jinan_codes_accepted(area_code: str) -> None:
    parsed = parse_id_number(make_id_number(area_code, date(1960, 5, 1), 17), AS_OF)
    assert parsed.area_code == area_code
    assert is_jinan_area(area_code)


@pytest.mark.parametrize("area_code", ["110105", "440305", "650102", "710000", "810000", "820000", "150102"])
def test_other_provinces_accepted(area_code: str) -> None:
    assert parse_id_number(make_id_number(area_code, date(2000, 1, 1), 5), AS_OF).area_code == area_code


def test_boundary_birth_dates_accepted() -> None:
    born_today = parse_id_number(make_id_number("370102", AS_OF, 1), AS_OF)
    assert born_today.age_on(AS_OF) == 0
    day_before_131 = parse_id_number(make_id_number("370102", date(1895, 11, 28), 1), AS_OF)
    assert day_before_131.age_on(AS_OF) == 130


def test_age_on_counts_full_years() -> None:
    parsed = parse_id_number(make_id_number("370102", date(1990, 6, 15), 3), AS_OF)
    assert parsed.age_on(date(2020, 6, 14)) == 29
    assert parsed.age_on(date(2020, 6, 15)) == 30


# --- parsing: every rejection reason -------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", idnumber.MSG_REQUIRED),
        ("   ", idnumber.MSG_REQUIRED),
        ("370102900101123", idnumber.MSG_OLD_FORMAT),
        ("37010219900101123", idnumber.MSG_BAD_FORMAT),  # 17 characters
        ("3701021990010112311", idnumber.MSG_BAD_FORMAT),  # 19 characters
        ("37010219900101123A", idnumber.MSG_BAD_FORMAT),  # bad check character
        ("3701021990O1011231", idnumber.MSG_BAD_FORMAT),  # letter O for zero
        ("37010219900101123２", idnumber.MSG_BAD_CHECKSUM),  # full-width folds to digit 2
        ("370102199001011232", idnumber.MSG_BAD_CHECKSUM),
        ("370102199001011321", idnumber.MSG_BAD_CHECKSUM),  # transposed digits
        ("11010519491231002Y", idnumber.MSG_BAD_FORMAT),
        ("110105194912310020", idnumber.MSG_BAD_CHECKSUM),  # X expected
        (make_id_number("990101", date(1990, 1, 1), 1), idnumber.MSG_BAD_PROVINCE),
        (make_id_number("000000", date(1990, 1, 1), 1), idnumber.MSG_BAD_PROVINCE),
        (make_id_number("163001", date(1990, 1, 1), 1), idnumber.MSG_BAD_PROVINCE),
        (_with_check("37010219900230123"), idnumber.MSG_BAD_BIRTH_DATE),  # 30 February
        (_with_check("37010219901301123"), idnumber.MSG_BAD_BIRTH_DATE),  # month 13
        (_with_check("37010219900100123"), idnumber.MSG_BAD_BIRTH_DATE),  # day 0
        (_with_check("37010219010229123"), idnumber.MSG_BAD_BIRTH_DATE),  # 1901 not a leap year
        (make_id_number("370102", date(2026, 11, 28), 1), idnumber.MSG_FUTURE_BIRTH),
        (make_id_number("370102", date(2090, 1, 1), 1), idnumber.MSG_FUTURE_BIRTH),
        (make_id_number("370102", date(1895, 11, 27), 1), idnumber.MSG_TOO_OLD),  # 131st birthday
        (make_id_number("370102", date(1850, 1, 1), 1), idnumber.MSG_TOO_OLD),
    ],
)
def test_rejections(raw: str, message: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_id_number(raw, AS_OF)
    assert caught.value.field == "id_number"
    assert caught.value.message == message


def test_rejection_carries_params_for_translation() -> None:
    with pytest.raises(DomainError) as caught:
        parse_id_number(make_id_number("990101", date(1990, 1, 1), 1), AS_OF)
    assert caught.value.params == {"area_code": "990101"}
    assert "990101" in str(caught.value)


def test_as_of_decides_future() -> None:
    number = make_id_number("370102", date(2026, 12, 1), 2)
    with pytest.raises(DomainError):
        parse_id_number(number, AS_OF)
    assert parse_id_number(number, date(2026, 12, 1)).sex is Sex.FEMALE


@given(
    area=st.sampled_from(sorted(JINAN_AREA_CODES)),
    born=st.dates(min_value=date(1900, 1, 1), max_value=AS_OF),
    sequence=st.integers(min_value=0, max_value=999),
    position=st.integers(min_value=0, max_value=16),
    delta=st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_error_is_caught(
    area: str, born: date, sequence: int, position: int, delta: int
) -> None:
    number = make_id_number(area, born, sequence)
    assert parse_id_number(number, AS_OF).number == number
    corrupted_digit = str((int(number[position]) + delta) % 10)
    corrupted = number[:position] + corrupted_digit + number[position + 1 :]
    with pytest.raises(DomainError):
        parse_id_number(corrupted, AS_OF)


# --- make_id_number ----------------------------------------------------------


@pytest.mark.parametrize(
    ("area", "sequence"), [("37010", 1), ("37010a", 1), ("370102", -1), ("370102", 1000)]
)
def test_make_id_number_rejects_bad_input(area: str, sequence: int) -> None:
    with pytest.raises(ValueError):
        make_id_number(area, date(1990, 1, 1), sequence)


def test_make_id_number_layout() -> None:
    assert make_id_number("370102", date(1990, 1, 1), 123) == "370102199001011231"


# --- consistency with separately entered fields ----------------------------


def test_check_id_matches() -> None:
    parsed = parse_id_number("370102199001011231", AS_OF)  # male, 1990-01-01
    assert check_id_matches(parsed, date(1990, 1, 1), Sex.MALE) == []
    assert check_id_matches(parsed, None, None) == []

    errors = check_id_matches(parsed, date(1990, 1, 2), Sex.FEMALE)
    assert [error.field for error in errors] == ["birth_date", "sex"]
    assert errors[0].message == idnumber.MSG_BIRTH_MISMATCH
    assert errors[0].params == {"birth_date": "1990-01-01"}
    assert errors[1].message == idnumber.MSG_SEX_MISMATCH

    only_sex = check_id_matches(parsed, date(1990, 1, 1), Sex.FEMALE)
    assert [error.field for error in only_sex] == ["sex"]


# --- Jinan codes and masking -------------------------------------------------


def test_jinan_area_codes() -> None:
    historic = {"370121", "370122", "370123", "370125", "370181", "371202", "371203"}
    assert historic <= set(JINAN_AREA_CODES)
    assert JINAN_AREA_CODES["370181"] == "章丘市"
    assert is_jinan_area("370176")  # high-tech zone: 3701xx
    assert not is_jinan_area("370202")  # Qingdao
    assert not is_jinan_area("371302")  # Linyi
    assert not is_jinan_area("3701")
    assert not is_jinan_area("3701ab")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("370102199001011234", "370102********1234"),
        ("11010519491231002X", "110105********002X"),
        ("11010519491231002x", "110105********002X"),
        ("12345", "*2345"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_id_number(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


def test_mask_id_number_hides_birth_date() -> None:
    number = make_id_number("370102", date(1987, 3, 14), 45)
    assert "19870314" not in mask_id_number(number)
