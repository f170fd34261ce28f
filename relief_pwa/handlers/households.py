"""Editing a household file: its fields, members and declared items (version-checked)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from relief_pwa.core.enums import (
    AreaType,
    AssetKind,
    ExpenseKind,
    Housing,
    Illness,
    IncomeKind,
    Relation,
    Schooling,
    Sex,
    WorkCapacity,
)
from relief_pwa.core.errors import Conflict, DomainError
from relief_pwa.core.intake import ItemDraft, MemberDraft
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.handlers.intake import ITEM_FIELDS, MEMBER_FIELDS
from relief_pwa.i18n import gettext
from relief_pwa.services.actors import Actor
from relief_pwa.services.household_edit import (
    HouseholdFields,
    do_add_item,
    do_add_member,
    do_remove_item,
    do_remove_member,
    do_update_household,
    do_update_member,
)
from relief_pwa.services.households import get_household_file

ENUMS = {
    "AreaType": list(AreaType),
    "Housing": list(Housing),
    "Relation": list(Relation),
    "Sex": list(Sex),
    "Illness": list(Illness),
    "WorkCapacity": list(WorkCapacity),
    "Schooling": list(Schooling),
}


def _version(form: FormMultiDict) -> int:
    raw = first(form, "version", 10)
    return int(raw) if raw.isdecimal() else -1


async def _edit_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    household_id: int,
    *,
    errors: dict[str, str] | None = None,
    section: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    file = await get_household_file(actor, household_id, now=now_of(request))
    context = {
        "file": file,
        "enums": ENUMS,
        "errors": errors or {},
        "section": section,
        "values": values or {},
        "conflict": status == 409,
        "item_kinds": {
            "IncomeKind": list(IncomeKind),
            "AssetKind": list(AssetKind),
            "ExpenseKind": list(ExpenseKind),
        },
    }
    return render(request, "households/edit.html", context, status_code=status)


async def _apply(
    request: Request[Any, Any, Any], actor: Actor, household_id: int, section: str, action: Any
) -> Response[Any]:
    """Run one change; a bad value re-renders that section, a stale version shows a conflict."""
    form = await request.form()
    values = {key: first(form, key, 300) for key in form}
    try:
        await action(form)
    except Conflict as exc:
        return await _edit_page(
            request,
            actor,
            household_id,
            errors={"": form_errors(exc)[""]},
            section=section,
            values=values,
            status=409,
        )
    except DomainError as exc:
        return await _edit_page(
            request, actor, household_id, errors=form_errors(exc), section=section, values=values, status=422
        )
    flash(request, gettext("Saved."))
    return Redirect(f"/households/{household_id}/edit", status_code=303)


@get("/households/{household_id:int}/edit", name="household_edit", opt=needs(C.HOUSEHOLD_EDIT))
async def edit_page(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _edit_page(request, actor, household_id)


@post("/households/{household_id:int}/edit", opt=needs(C.HOUSEHOLD_EDIT))
async def edit_household(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    async def action(form: FormMultiDict) -> None:
        fields = HouseholdFields(**{k: first(form, k, 300) for k in HouseholdFields.__dataclass_fields__})
        await do_update_household(
            actor, household_id, fields, expected_version=_version(form), now=now_of(request)
        )

    return await _apply(request, actor, household_id, "household", action)


@post("/households/{household_id:int}/members", opt=needs(C.HOUSEHOLD_EDIT))
async def add_member(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    async def action(form: FormMultiDict) -> None:
        draft = MemberDraft(**{f: first(form, f, 100) for f in MEMBER_FIELDS})
        draft.illness = draft.illness or Illness.NONE.value
        await do_add_member(actor, household_id, draft, expected_version=_version(form), now=now_of(request))

    return await _apply(request, actor, household_id, "new_member", action)


@post("/households/{household_id:int}/members/{member_id:int}", opt=needs(C.HOUSEHOLD_EDIT))
async def edit_member(
    request: Request[Any, Any, Any],
    household_id: FromPath[int],
    member_id: FromPath[int],
    actor: NamedDependency[Actor],
) -> Response[Any]:
    async def action(form: FormMultiDict) -> None:
        if first(form, "action", 10) == "remove":
            await do_remove_member(
                actor,
                member_id,
                first(form, "reason", 300),
                expected_version=_version(form),
                now=now_of(request),
            )
            return
        draft = MemberDraft(**{f: first(form, f, 100) for f in MEMBER_FIELDS})
        draft.illness = draft.illness or Illness.NONE.value
        await do_update_member(actor, member_id, draft, expected_version=_version(form), now=now_of(request))

    return await _apply(request, actor, household_id, f"member-{member_id}", action)


@post("/households/{household_id:int}/items", opt=needs(C.HOUSEHOLD_EDIT))
async def add_item(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    async def action(form: FormMultiDict) -> None:
        draft = ItemDraft(**{f: first(form, f, 120) for f in ITEM_FIELDS})
        await do_add_item(actor, household_id, draft, expected_version=_version(form), now=now_of(request))

    return await _apply(request, actor, household_id, "new_item", action)


@post("/households/{household_id:int}/items/{item_id:int}/remove", opt=needs(C.HOUSEHOLD_EDIT))
async def remove_item(
    request: Request[Any, Any, Any],
    household_id: FromPath[int],
    item_id: FromPath[int],
    actor: NamedDependency[Actor],
) -> Response[Any]:
    async def action(form: FormMultiDict) -> None:
        await do_remove_item(
            actor, item_id, first(form, "reason", 300), expected_version=_version(form), now=now_of(request)
        )

    return await _apply(request, actor, household_id, f"item-{item_id}", action)


ROUTES: list[Any] = [edit_page, edit_household, add_member, edit_member, add_item, remove_item]
