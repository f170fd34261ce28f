"""Intake validation: each mistake is reported once, where it is."""

from __future__ import annotations

from datetime import date

import pytest

from relief_pwa.core.errors import ValidationFailed
from relief_pwa.core.intake import ItemDraft, validate_intake
from tests.factories import intake_draft, member


def test_a_member_with_a_mistake_is_not_reported_again_on_the_items_naming_it():
    draft = intake_draft(
        1,
        members=[member("张三"), member("张小", relation="child", work_capacity="")],
        items=[ItemDraft("income", "wages", "1", "", "600")],
    )
    with pytest.raises(ValidationFailed) as failed:
        validate_intake(draft, date(2026, 11, 16))
    assert "members-1-work_capacity" in failed.value.errors
    assert "items-0-member" not in failed.value.errors


def test_an_item_naming_no_member_row_is_refused():
    draft = intake_draft(1, items=[ItemDraft("income", "wages", "5", "", "600")])
    with pytest.raises(ValidationFailed) as failed:
        validate_intake(draft, date(2026, 11, 16))
    assert set(failed.value.errors) == {"items-0-member"}


def test_enum_members_sharing_a_value_keep_their_own_labels():
    from relief_pwa.core.enums import AssetKind, Channel, IncomeKind, Relation, Role, Schooling, WorkCapacity

    assert Relation.OTHER.label == "Other relative"
    assert IncomeKind.OTHER.label == "Other income" and AssetKind.OTHER.label == "Other assets"
    assert Role.LIAISON.label == "Community liaison" and Channel.LIAISON.label == "Liaison home visit"
    assert len({WorkCapacity.NONE.label, Schooling.NONE.label}) == 2
