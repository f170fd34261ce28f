"""Published policies and procedures: edited by city staff, every edit a new version.

Bodies are plain text (paragraphs separated by blank lines, "- " bullets,
"# " headings), rendered escaped: nothing an editor types can inject markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import PolicyPage

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,59}")
TITLE_MAX = 200
BODY_MAX = 50_000


@dataclass(frozen=True)
class Block:
    kind: str  # heading | paragraph | list
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    slug: str
    version: int
    title: str
    body: str
    published_at: datetime
    published_by: str
    latest_version: int

    @property
    def blocks(self) -> list[Block]:
        return parse_body(self.body)


def parse_body(body: str) -> list[Block]:
    """Split plain text into headings, paragraphs and bullet lists."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", body.replace("\r\n", "\n").strip()):
        lines = [line.strip() for line in chunk.split("\n") if line.strip()]
        if not lines:
            continue
        if len(lines) == 1 and lines[0].startswith("# "):
            blocks.append(Block("heading", (lines[0][2:].strip(),)))
        elif all(line.startswith(("- ", "• ")) for line in lines):
            blocks.append(Block("list", tuple(line[2:].strip() for line in lines)))
        else:
            blocks.append(Block("paragraph", tuple(lines)))
    return blocks


def _policy(row: dict[str, Any], latest: int, author: str) -> Policy:
    return Policy(
        slug=row["slug"],
        version=row["version"],
        title=row["title"],
        body=row["body"],
        published_at=row["published_at"],
        published_by=author,
        latest_version=latest,
    )


async def list_policies() -> list[Policy]:
    """The latest version of every policy, by title."""
    rows = await PolicyPage.select().order_by(PolicyPage.slug).order_by(PolicyPage.version)
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row["slug"]] = row
    return sorted((_policy(r, r["version"], "") for r in latest.values()), key=lambda p: p.title)


async def get_policy(slug: str, version: int | None = None) -> Policy:
    if not SLUG_PATTERN.fullmatch(slug):
        raise NotFoundOrForbidden()
    rows = (
        await PolicyPage.select(*PolicyPage.all_columns(), PolicyPage.published_by.display_name)
        .where(PolicyPage.slug == slug)
        .order_by(PolicyPage.version)
    )
    if not rows:
        raise NotFoundOrForbidden()
    latest = rows[-1]["version"]
    chosen = rows[-1] if version is None else next((r for r in rows if r["version"] == version), None)
    if chosen is None:
        raise NotFoundOrForbidden()
    return _policy(chosen, latest, chosen.get("published_by.display_name") or "")


async def policy_history(slug: str) -> list[Policy]:
    if not SLUG_PATTERN.fullmatch(slug):
        raise NotFoundOrForbidden()
    rows = (
        await PolicyPage.select(*PolicyPage.all_columns(), PolicyPage.published_by.display_name)
        .where(PolicyPage.slug == slug)
        .order_by(PolicyPage.version, ascending=False)
    )
    if not rows:
        raise NotFoundOrForbidden()
    latest = rows[0]["version"]
    return [_policy(r, latest, r.get("published_by.display_name") or "") for r in rows]


async def do_publish_policy(
    actor: Actor, *, slug: str, title: str, body: str, now: datetime, based_on_version: int | None = None
) -> int:
    """Publish a new version of a policy (or its first). Returns the version number.

    ``based_on_version`` is the version the editor started from: if someone
    published meanwhile, the edit is refused as a conflict, never overwritten.
    """
    require(actor, Capability.POLICIES_EDIT)
    errors: dict[str, DomainError] = {}
    slug = slug.strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        errors["slug"] = DomainError(
            N_("Use 2–60 lower-case letters, digits and dashes for the address."), field="slug"
        )
    title = " ".join(title.split())
    if not 2 <= len(title) <= TITLE_MAX:
        errors["title"] = DomainError(N_("Enter a title of 2 to 200 characters."), field="title")
    body = body.replace("\r\n", "\n").strip()
    if not 10 <= len(body) <= BODY_MAX:
        errors["body"] = DomainError(N_("Enter a text of 10 to 50,000 characters."), field="body")
    if errors:
        raise ValidationFailed(errors)
    engine = PolicyPage._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"policy:{slug}")
        head = (
            await PolicyPage.select(PolicyPage.version)
            .where(PolicyPage.slug == slug)
            .order_by(PolicyPage.version, ascending=False)
            .first()
        )
        current = head["version"] if head else 0
        if based_on_version is not None and based_on_version != current:
            from relief_pwa.core.errors import Conflict

            raise Conflict(N_("Someone published a newer version meanwhile. Reload it and edit again."))
        if based_on_version is None and current:
            raise ValidationFailed(
                {"slug": DomainError(N_("A policy with this address exists already."), field="slug")}
            )
        page = PolicyPage(
            slug=slug,
            version=current + 1,
            title=title,
            body=body,
            published_at=now,
            published_by=actor.staff_id,
        )
        await page.save()
        await record_event(
            actor,
            "policy.publish",
            "policy_page",
            page.id,
            org_path=actor.org_path,
            now=now,
            before={"version": current} if current else None,
            after={"slug": slug, "version": current + 1, "title": title},
        )
    return current + 1
