"""Intake (采集录入) on a phone or a desktop, and the printable receipt."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from relief_pwa.core.enums import (
    AreaType,
    AssetKind,
    Category,
    Channel,
    ExpenseKind,
    Housing,
    Illness,
    IncomeKind,
    Relation,
    Schooling,
    Sex,
    WorkCapacity,
)
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.intake import MAX_ITEMS, MAX_MEMBERS, IntakeDraft, ItemDraft, MemberDraft
from relief_pwa.core.materials import MATERIALS
from relief_pwa.handlers.common import (
    C,
    clean_text,
    first,
    flash,
    form_errors,
    is_htmx,
    needs,
    now_of,
    render,
)
from relief_pwa.i18n import translate
from relief_pwa.services.actors import Actor
from relief_pwa.services.intake import DuplicateIdNumber, check_and_create_intake, check_id_number
from relief_pwa.services.org import list_communities_for
from relief_pwa.services.receipts import get_receipt

MEMBER_FIELDS = tuple(MemberDraft.__dataclass_fields__)
_ID_FIELD = re.compile(r"members-\d{1,2}-id_number")
ITEM_FIELDS = tuple(ItemDraft.__dataclass_fields__)


def _rows(form: FormMultiDict, key: str, default: int, maximum: int) -> int:
    raw = first(form, key, 4)
    count = int(raw) if raw.isdecimal() else default
    return max(1, min(count, maximum))


def parse_intake_form(form: FormMultiDict) -> tuple[IntakeDraft, int, int]:
    member_rows = _rows(form, "member_rows", 3, MAX_MEMBERS)
    item_rows = _rows(form, "item_rows", 3, MAX_ITEMS)
    members = [
        MemberDraft(**{f: first(form, f"members-{i}-{f}", 100) for f in MEMBER_FIELDS})
        for i in range(member_rows)
    ]
    for member in members:
        member.illness = member.illness or Illness.NONE.value
    items = [
        ItemDraft(**{f: first(form, f"items-{i}-{f}", 120) for f in ITEM_FIELDS}) for i in range(item_rows)
    ]
    draft = IntakeDraft(
        community_id=first(form, "community_id", 12),
        address=first(form, "address", 300),
        area_type=first(form, "area_type", 10),
        housing=first(form, "housing", 20),
        phone=first(form, "phone", 30),
        onecard_account=first(form, "onecard_account", 40),
        category=first(form, "category", 20),
        channel=first(form, "channel", 10),
        description=first(form, "description", 2000),
        members=members,
        items=items,
        materials=[clean_text(m, 40) for m in form.getall("materials", []) if isinstance(m, str)][:20],
    )
    return draft, member_rows, item_rows


async def _form_context(
    actor: Actor, draft: IntakeDraft, errors: dict[str, str], rows: tuple[int, int]
) -> dict[str, Any]:
    member_rows, item_rows = rows
    while len(draft.members) < member_rows:
        draft.members.append(MemberDraft())
    while len(draft.items) < item_rows:
        draft.items.append(ItemDraft())
    return {
        "draft": draft,
        "errors": errors,
        "member_rows": member_rows,
        "item_rows": item_rows,
        "communities": await list_communities_for(actor),
        "enums": {
            "AreaType": list(AreaType),
            "Housing": list(Housing),
            "Category": list(Category),
            "Channel": list(Channel),
            "Relation": list(Relation),
            "Sex": list(Sex),
            "Illness": list(Illness),
            "WorkCapacity": list(WorkCapacity),
            "Schooling": list(Schooling),
        },
        "item_kinds": {"income": list(IncomeKind), "asset": list(AssetKind), "expense": list(ExpenseKind)},
        "materials": list(MATERIALS.values()),
        "max_members": MAX_MEMBERS,
        "max_items": MAX_ITEMS,
    }


def _visible_duplicates(exc: DomainError) -> dict[str, int]:
    """Form field → household id, for duplicates the actor may open."""
    if not isinstance(exc, ValidationFailed):
        return {}
    return {
        field: error.household_id
        for field, error in exc.errors.items()
        if isinstance(error, DuplicateIdNumber) and error.household_id is not None
    }


@get("/intake", name="intake", opt=needs(C.INTAKE_CREATE))
async def intake_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    default_channel = Channel.WINDOW if actor.can(C.INTAKE_AT_WINDOW) else Channel.LIAISON
    communities = await list_communities_for(actor)
    draft = IntakeDraft(
        channel=default_channel.value,
        community_id=str(communities[0].id) if len(communities) == 1 else "",
        area_type=communities[0].area_type if len(communities) == 1 else "",
    )
    return render(request, "intake/form.html", await _form_context(actor, draft, {}, (3, 3)))


@post("/intake", opt=needs(C.INTAKE_CREATE))
async def intake_submit(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    draft, member_rows, item_rows = parse_intake_form(form)
    action = first(form, "action", 20)
    if action in {"add_member", "add_item"}:
        # Growing the form is a round trip that keeps every value typed so far (works without JS).
        if action == "add_member":
            member_rows = min(member_rows + 1, MAX_MEMBERS)
        else:
            item_rows = min(item_rows + 1, MAX_ITEMS)
        context = await _form_context(actor, draft, {}, (member_rows, item_rows))
        block = ("members" if action == "add_member" else "items") if is_htmx(request) else None
        return render(request, "intake/form.html", context, block=block)
    try:
        result = await check_and_create_intake(actor, draft, now=now_of(request))
    except DomainError as exc:
        context = await _form_context(actor, draft, form_errors(exc), (member_rows, item_rows))
        context["duplicates"] = _visible_duplicates(exc)
        return render(request, "intake/form.html", context, status_code=422)
    flash(request, translate("Application {number} received.", number=result.application_number))
    return Redirect(f"/applications/{result.application_id}/receipt", status_code=303)


@get("/applications/{application_id:int}/receipt", name="receipt", opt=needs(C.CASES_READ))
async def receipt(
    request: Request[Any, Any, Any], application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    data = await get_receipt(actor, application_id, now=now_of(request))
    return render(request, "intake/receipt.html", {"receipt": data})


@get("/intake/check-id", name="intake_check_id", opt=needs(C.INTAKE_CREATE))
async def check_id(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    """An htmx fragment under a member's ID number: checked as soon as it is typed,
    so a duplicate is known before the rest of the form is filled."""
    field, raw = next(((k, v) for k, v in request.query_params.items() if _ID_FIELD.fullmatch(k)), ("", ""))
    problem = await check_id_number(actor, raw[:40], field, now=now_of(request)) if raw.strip() else None
    context = {
        "field": field,
        "problem": form_errors(problem).get(field, "") if problem else "",
        "household_id": problem.household_id if isinstance(problem, DuplicateIdNumber) else None,
    }
    return render(request, "intake/_id_check.html", context)
