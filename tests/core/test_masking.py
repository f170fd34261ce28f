from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relief_pwa.core.masking import (
    COMPOUND_SURNAMES,
    mask_address,
    mask_bank_account,
    mask_name,
)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        # Ordinary names: keep surname, and the last character from 3 chars on.
        ("张静", "张*"),
        ("刘三", "刘*"),
        ("张小明", "张*明"),
        ("张小静静", "张**静"),
        ("段正淳", "段*淳"),
        # Compound surnames stay whole.
        ("欧阳震华", "欧阳*华"),
        ("欧阳华", "欧阳*"),
        ("司马相如", "司马*如"),
        ("诸葛孔明", "诸葛*明"),
        ("上官婉儿", "上官*儿"),
        ("东方不败", "东方*败"),
        ("慕容复", "慕容*"),
        ("令狐冲", "令狐*"),
        ("欧阳", "欧*"),  # just the surname: an ordinary 2-char name
        # Names with a separator: first segment only.
        ("麦麦提·赛帕克", "麦麦提·***"),
        ("麦麦提•赛帕克", "麦麦提•***"),
        ("阿依古丽·买买提·吐尔逊", "阿依古丽·***·***"),
        ("·赛帕克", "赛*克"),  # stray separator
        # Latin-letter names: first letter of each word.
        ("John Smith", "J*** S****"),
        ("  John   Smith ", "J*** S****"),
        ("Li", "L*"),
        ("Mary Ann O'Neil", "M*** A** O*****"),
        ("A B", "***"),  # would otherwise come back unchanged
        # One character, whitespace, empty.
        ("王", "*"),
        ("  王  ", "*"),
        (" 李四 ", "李*"),
        ("张 小明", "张*明"),  # stray space inside a Chinese name
        ("", ""),
        ("   ", ""),
        ("张*", "**"),  # already masked input is not returned unchanged
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_compound_surname_set_is_broad() -> None:
    assert len(COMPOUND_SURNAMES) >= 80
    must_have = {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐"}
    must_have |= {"长孙", "宇文", "夏侯", "轩辕", "端木", "西门", "南宫", "独孤", "百里", "呼延"}
    assert must_have <= COMPOUND_SURNAMES
    assert all(len(surname) == 2 for surname in COMPOUND_SURNAMES)


_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


@given(st.text(alphabet=_CJK, min_size=2, max_size=8))
def test_masked_cjk_name_differs_and_keeps_length(name: str) -> None:
    masked = mask_name(name)
    assert masked != name
    assert len(masked) == len(name)
    assert "*" in masked


@given(
    surname=st.sampled_from(sorted(COMPOUND_SURNAMES)),
    given_name=st.text(alphabet=_CJK, min_size=1, max_size=3),
)
def test_compound_surname_kept(surname: str, given_name: str) -> None:
    masked = mask_name(surname + given_name)
    assert masked.startswith(surname)
    assert masked[2] == "*"


@given(st.text(min_size=2, max_size=12).filter(lambda text: len(text.strip()) >= 2))
def test_any_longer_name_is_changed(name: str) -> None:
    assert mask_name(name) != name.strip()


@pytest.mark.parametrize(
    ("account", "masked"),
    [
        ("6222021234565676", "6222 **** **** 5676"),
        ("6222 0212 3456 5676", "6222 **** **** 5676"),
        ("6222-0212-3456-5676-123", "6222 **** **** 6123"),  # length not revealed
        ("123456789", "1234 **** **** 6789"),
        ("12345678", "**** 5678"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_bank_account(account: str, masked: str) -> None:
    assert mask_bank_account(account) == masked


def test_bank_account_masks_of_different_lengths_look_alike() -> None:
    assert len(mask_bank_account("6222021234565676")) == len(mask_bank_account("6222021234565676123"))


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("历下区解放路街道和平社区3号楼2单元101", "历下区解放路****"),
        ("济南市历下区解放路10号", "济南市历下区****"),
        (" 历下区 解放路10号 ", "历下区解放路****"),
        ("历下区解放路", "历下区****"),  # short: keep only half
        ("历下区", "历****"),
        ("", ""),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_address_mask_hides_length() -> None:
    assert mask_address("历下区解放路1号") == mask_address("历下区解放路街道和平社区3号楼2单元101")
