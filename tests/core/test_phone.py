from __future__ import annotations

import pytest

from relief_pwa.core import phone
from relief_pwa.core.errors import DomainError
from relief_pwa.core.phone import mask_phone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("13912345678", "13912345678"),
        (" 139 1234 5678 ", "13912345678"),
        ("139-1234-5678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("+86-13912345678", "13912345678"),
        ("8613912345678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("１３９１２３４５６７８", "13912345678"),  # full-width digits
        ("19912345678", "19912345678"),
        ("16612345678", "16612345678"),
        ("0531-88881234", "0531-88881234"),
        ("0531 8888 1234", "0531-88881234"),
        ("053188881234", "0531-88881234"),
        ("(0531)88881234", "0531-88881234"),
        ("+86 531 8888 1234", "0531-88881234"),
        ("86 531 88881234", "0531-88881234"),
        ("0634-6123456", "0634-6123456"),  # former Laiwu, 7 digits
        ("0634-86123456", "0634-86123456"),  # former Laiwu, 8 digits
        ("+86 634 6123456", "0634-6123456"),
    ],
)
def test_normalise_accepts(raw: str, normalised: str) -> None:
    assert normalise_phone(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", phone.MSG_REQUIRED),
        ("   ", phone.MSG_REQUIRED),
        ("13800138000", phone.MSG_PLACEHOLDER),
        ("+86 138 0013 8000", phone.MSG_PLACEHOLDER),
        ("12912345678", phone.MSG_INVALID),  # 12x is not a mobile segment
        ("1391234567", phone.MSG_INVALID),  # 10 digits
        ("139123456789", phone.MSG_INVALID),  # 12 digits
        ("23912345678", phone.MSG_INVALID),
        ("139l2345678", phone.MSG_INVALID),  # letter l
        ("0531-8888123", phone.MSG_INVALID),  # Jinan local numbers have 8 digits
        ("0531-888812345", phone.MSG_INVALID),
        ("0531-08881234", phone.MSG_INVALID),  # local number cannot start with 0
        ("0634-612345", phone.MSG_INVALID),  # 6 digits
        ("010-88881234", phone.MSG_INVALID),  # Beijing landline: not a Jinan number
        ("0532-88881234", phone.MSG_INVALID),  # Qingdao
        ("+1 555 123 4567", phone.MSG_INVALID),  # foreign number that looks like 155...
        ("+44 7911 123456", phone.MSG_INVALID),
        ("+39 139 1234 5678", phone.MSG_INVALID),  # Italian code before a Chinese-looking mobile
        ("88881234", phone.MSG_NEEDS_AREA_CODE),
        ("6123456", phone.MSG_NEEDS_AREA_CODE),
        ("13912345678转123", phone.MSG_INVALID),
    ],
)
def test_normalise_rejects(raw: str, message: str) -> None:
    with pytest.raises(DomainError) as caught:
        normalise_phone(raw)
    assert caught.value.field == "phone"
    assert caught.value.message == message


def test_placeholder_message_names_the_number() -> None:
    with pytest.raises(DomainError) as caught:
        normalise_phone("138 0013 8000")
    assert caught.value.params == {"phone": "13800138000"}


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13812345678", "138****5678"),
        ("0531-88881234", "0531-****1234"),
        ("0634-6123456", "0634-***3456"),
        ("123456", "**3456"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


def test_mask_phone_round_trip_hides_middle_digits() -> None:
    masked = mask_phone(normalise_phone("+86 139 8765 4321"))
    assert masked == "139****4321"
    assert "8765" not in masked
