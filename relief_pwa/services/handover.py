"""In-kind hand-over (实物发放): confirmed at the door by scanning the
household card's QR token (or typing the file number), with a photo.

A hand-over writes a Handover row, the aid the household received (value =
quantity × unit value, which lowers its relief index), marks the plan line
implemented and, the first time, schedules the follow-up visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.access import access_household
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.followups import schedule_followup
from relief_pwa.tables import Handover, Photo, PlanLine

METHODS = ("qr", "file_no")


async def resolve_household(actor: Actor, *, token: str = "", file_no: str = "") -> int:
    """The household named by a scanned card token or a typed file number, in the actor's area."""
    from relief_pwa.services import cards

    token = token.strip()
    # A scanner may deliver the whole card URL; the token is its last segment.
    if "/" in token:
        token = token.rstrip("/").rsplit("/", 1)[-1]
    if token:
        household_id = await cards.resolve_card(actor, token)
        if household_id is None:
            raise DomainError(N_("This card is unknown, revoked or outside your area."), field="token")
        return household_id
    if file_no.strip():
        return await cards.find_by_file_no(actor, file_no)
    raise DomainError(N_("Scan the household card or enter the file number."), field="token")


@dataclass
class PendingLine:
    line_id: int
    resource_name: str
    kind: str
    quantity: int
    months: int
    handed: int
    amount_fen: int
    start_month: str

    @property
    def remaining(self) -> int:
        return self.quantity * self.months - self.handed


@dataclass
class HandoverPage:
    household: dict[str, Any]
    pending: list[PendingLine]
    history: list[dict[str, Any]]


async def get_handover_page(actor: Actor, household_id: int) -> HandoverPage:
    household = await access_household(actor, household_id)
    lines = await PlanLine.raw(
        "SELECT pl.id, pl.quantity, pl.months, pl.amount_fen, pl.start_month, r.name, r.kind, "
        "COALESCE((SELECT SUM(h.quantity) FROM handover h WHERE h.plan_line = pl.id), 0) AS handed "
        "FROM plan_line pl JOIN resource r ON r.id = pl.resource "
        "WHERE pl.household = {} AND r.kind <> 'cash' AND pl.status IN ('approved', 'implemented') "
        "ORDER BY pl.id",
        household.id,
    )
    pending = [
        PendingLine(
            int(r["id"]),
            r["name"],
            r["kind"],
            int(r["quantity"]),
            int(r["months"]),
            int(r["handed"]),
            int(r["amount_fen"]),
            r["start_month"],
        )
        for r in lines
    ]
    history = (
        await Handover.select(
            *Handover.all_columns(),
            Handover.plan_line.resource.name.as_alias("resource_name"),  # type: ignore[union-attr]
            Handover.confirmed_by.display_name.as_alias("staff_name"),
        )
        .where(Handover.household == household.id)
        .order_by(Handover.id, ascending=False)
    )
    return HandoverPage(
        {
            "id": household.id,
            "file_no": household.file_no,
            "head_name": household.head_name,
            "address": household.address,
        },
        [p for p in pending if p.remaining > 0],
        list(history),
    )


async def do_confirm_handover(
    actor: Actor,
    plan_line_id: int,
    *,
    method: str,
    quantity: str,
    photo: bytes,
    now: datetime,
) -> int:
    """Confirm goods or a service handed to the household, with a photo."""
    require(actor, Capability.HANDOVER)
    if method not in METHODS:
        raise DomainError(N_("Unknown way of identifying the household."), field="method")
    raw = quantity.strip()
    if not raw.isdecimal() or int(raw) <= 0:
        raise ValidationFailed(
            {"quantity": DomainError(N_("Enter the quantity handed over."), field="quantity")}
        )
    count = int(raw)
    if not photo:
        raise ValidationFailed({"photo": DomainError(N_("Take a photo of the hand-over."), field="photo")})
    line = (
        await PlanLine.select(
            *PlanLine.all_columns(),
            PlanLine.resource.kind.as_alias("kind"),
            PlanLine.resource.name.as_alias("name"),
            PlanLine.plan.application.as_alias("application_id"),
        )
        .where(PlanLine.id == plan_line_id)
        .first()
    )
    if line is None:
        raise NotFoundOrForbidden()
    household = await access_household(actor, int(line["household"]))
    if line["kind"] == "cash" or line["status"] not in ("approved", "implemented"):
        raise DomainError(N_("This line is not an approved in-kind or service item."), field="line")

    from relief_pwa.services import photos as photo_service

    processed = await photo_service.prepare_photo(photo)  # PhotoRejected says why; nothing written
    await photo_service.store_photo(processed)
    engine = Handover._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"handover:{plan_line_id}")
        handed = await Handover.raw(
            "SELECT COALESCE(SUM(quantity), 0) AS total FROM handover WHERE plan_line = {}", plan_line_id
        )
        already = int(handed[0]["total"] or 0)
        allowed = int(line["quantity"]) * int(line["months"])
        if already + count > allowed:
            raise ValidationFailed(
                {
                    "quantity": DomainError(
                        N_("Only {remaining} of {total} remain to be handed over."),
                        field="quantity",
                        remaining=str(max(0, allowed - already)),
                        total=str(allowed),
                    )
                }
            )
        status = await PlanLine.select(PlanLine.status).where(PlanLine.id == plan_line_id).first()
        if status is None or status["status"] not in ("approved", "implemented"):
            raise DomainError(N_("This line is not an approved in-kind or service item."), field="line")
        photo_row = Photo(
            household=household.id,
            visit=None,
            org_path=household.org_path,
            sha256=processed.sha256,
            purpose="handover",
            width=processed.width,
            height=processed.height,
            gps_lat=processed.gps.lat if processed.gps else None,
            gps_lon=processed.gps.lon if processed.gps else None,
            taken_at=(processed.taken_at or "")[:30],
            caption=str(line["name"])[:200],
            uploaded_by=actor.staff_id,
            uploaded_at=now,
        )
        await photo_row.save()
        row = Handover(
            plan_line=plan_line_id,
            household=household.id,
            org_path=household.org_path,
            quantity=count,
            method=method,
            photo=photo_row.id,
            confirmed_by=actor.staff_id,
            confirmed_at=now,
        )
        await row.save()
        # Value of the goods: the line's monthly value spread over its monthly quantity.
        unit_quantity = max(1, int(line["quantity"]))
        value = int(line["amount_fen"]) * count // unit_quantity
        await record_aid(
            household.id,
            value_fen=value,
            source="handover",
            reference=f"handover:{row.id}",
            note=str(line["name"]),
            now=now,
        )
        first_time = status["status"] == "approved"
        if first_time:
            await PlanLine.update({PlanLine.status: "implemented", PlanLine.implemented_at: now}).where(
                PlanLine.id == plan_line_id
            )
        await record_event(
            actor,
            "handover.confirm",
            "handover",
            row.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={
                "plan_line": plan_line_id,
                "quantity": count,
                "method": method,
                "value_fen": value,
                "photo": processed.sha256,
            },
        )
        await hooks.emit(
            "handover.confirmed",
            household_id=household.id,
            application_id=line["application_id"],
            handover_id=row.id,
            plan_line_id=plan_line_id,
            quantity=count,
            value_fen=value,
            now=now,
        )
        if first_time:
            await schedule_followup(actor, plan_line_id, now=now)
    return int(row.id)


async def record_aid(
    household_id: int, *, value_fen: int, source: str, reference: str, note: str, now: datetime
) -> None:
    """Aid received → an AidRecord through the index service, which recomputes
    the household's index in this transaction (a repeated reference counts once)."""
    from relief_pwa.services.scoring import add_aid_record

    await add_aid_record(
        household_id,
        value_fen=value_fen,
        received_on=local_date(now),
        source=source,
        reference=reference,
        note=note,
        now=now,
    )


async def decode_qr(photo: bytes) -> str:
    """The token in a photo of the household card's QR code (phones without a scanner app)."""
    import anyio.to_thread

    def decode() -> str:
        import io

        import zxingcpp
        from PIL import Image, UnidentifiedImageError

        if len(photo) > 16 * 1024 * 1024:
            return ""
        try:
            with Image.open(io.BytesIO(photo)) as image:
                image.thumbnail((1600, 1600))
                results = zxingcpp.read_barcodes(image.convert("L"))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return ""
        return next((r.text for r in results if r.text), "")

    text = await anyio.to_thread.run_sync(decode)
    if not text:
        raise DomainError(
            N_("No QR code was found in the photo; try again closer, or enter the file number."),
            field="token",
        )
    return text
