"""The ``relief-pwa`` command line: serve, migrate, seed-demo, create-user, import-caseload, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from relief_pwa.settings import SettingsError, get_settings

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine, then close the database connections.

    SQLite connections are threads: left open, they keep the process alive.
    """

    async def wrapper() -> T:
        from relief_pwa.db import close_engine
        from relief_pwa.piccolo_conf import DB
        from relief_pwa.services.wiring import register_listeners

        register_listeners()

        if DB.engine_type == "postgres":
            await DB.start_connection_pool(min_size=1, max_size=4)  # type: ignore[call-arg, no-untyped-call]
        try:
            return await coro
        finally:
            await close_engine(DB)

    return asyncio.run(wrapper())


async def _migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards("relief")
    if not result.success:
        raise SystemExit(f"migration failed: {result.message}")


def cmd_migrate(_: argparse.Namespace) -> None:
    run_async(_migrate())
    print("migrations applied")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    if args.migrate:
        run_async(_migrate())
    print(
        f"Sunshine Relief on http://{args.host}:{args.port} ({settings.mode} mode, {settings.database_url})"
    )
    uvicorn.run(
        "relief_pwa.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        proxy_headers=True,
    )


def cmd_seed_demo(args: argparse.Namespace) -> None:
    from relief_pwa.demo import seed_demo

    settings = get_settings()
    if not settings.is_demo:
        raise SystemExit("refusing to load demo data outside demo mode (RELIEF_MODE=production)")
    run_async(_migrate())
    created = run_async(seed_demo(households=args.households, force=args.force))
    print(created)


def cmd_create_user(args: argparse.Namespace) -> None:
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.auth import do_create_staff

    password = args.password or getpass.getpass("Password: ")

    async def run() -> int:
        from datetime import UTC, datetime

        return await do_create_staff(
            SYSTEM_ACTOR,
            username=args.username,
            display_name=args.name or args.username,
            password=password,
            role=args.role,
            org_code=args.org,
            now=datetime.now(UTC),
        )

    staff_id = run_async(run())
    print(f"created staff {args.username} (id {staff_id})")


def cmd_audit_verify(_: argparse.Namespace) -> None:
    from relief_pwa.services.audit import verify_chain

    report = run_async(verify_chain())
    if report.ok:
        print(f"audit chain OK: {report.events_checked} events verified")
        return
    assert report.first_break is not None
    print(
        f"audit chain BROKEN at event {report.first_break.seq}: {report.first_break.reason} "
        f"({report.events_checked} events before it verified)"
    )
    raise SystemExit(1)


def cmd_rescore(args: argparse.Namespace) -> None:
    from relief_pwa.clock import SystemClock
    from relief_pwa.services.scoring import get_active_model, rescore_all

    async def run() -> tuple[int, int, float]:
        now = SystemClock().now()
        model = await get_active_model(now=now)
        started = time.perf_counter()
        result = await rescore_all(model, now=now, trigger="cli:rescore", workers=args.workers)
        return result.count, result.skipped, time.perf_counter() - started

    count, skipped, seconds = run_async(run())
    print(f"re-scored {count} households in {seconds:.1f} s ({skipped} skipped: no standard in force)")


def cmd_import_caseload(args: argparse.Namespace) -> None:
    from pathlib import Path

    from relief_pwa.clock import SystemClock
    from relief_pwa.core.caseload import COLUMN_BY_KEY
    from relief_pwa.core.errors import DomainError
    from relief_pwa.i18n import current_language, translate
    from relief_pwa.services import caseload
    from relief_pwa.services.actors import SYSTEM_ACTOR

    current_language.set(get_settings().default_language)
    if args.template:
        caseload.write_template(Path(args.template))
        print(f"template written to {args.template}")
        return
    if not args.file:
        raise SystemExit("name the roster file (XLSX or CSV), or --template OUT.xlsx")
    source = Path(args.file)
    if not source.is_file():
        raise SystemExit(f"no such file: {source}")

    async def run() -> caseload.ImportReport:
        actor = await caseload.actor_for_username(args.user) if args.user else SYSTEM_ACTOR
        return await caseload.import_caseload(
            actor,
            source,
            filename=source.name,
            now=SystemClock().now(),
            dry_run=args.dry_run,
            accept_valid=args.accept_valid,
        )

    started = time.perf_counter()
    try:
        report = run_async(run())
    except DomainError as exc:
        raise SystemExit(translate(exc.message, **exc.params)) from None
    seconds = time.perf_counter() - started
    print(
        f"{source.name} (sha256 {report.sha256[:16]}…): {report.rows_read} rows, "
        f"{report.households_in_file} households; {report.imported} imported "
        f"({report.imported_members} members), {report.already} already imported, "
        f"{report.refused_households} refused; {seconds:.1f} s"
        + (" — dry run, nothing changed" if report.dry_run else "")
    )
    for refusal in report.refusals[:30]:
        column = COLUMN_BY_KEY[refusal.column].header if refusal.column in COLUMN_BY_KEY else ""
        print(f"  {refusal.sheet} row {refusal.row} {column}: {translate(refusal.message, **refusal.params)}")
    if len(report.refusals) > 30:
        print(f"  … {len(report.refusals) - 30} more (see the report)")
    target = args.report or (
        str(source.with_name(source.stem + ".refused.xlsx")) if report.refusals and args.accept_valid else ""
    )
    if target:
        caseload.write_report(report, Path(target), translate)
        print(f"report written to {target}")
    if report.refusals and not report.written and not args.accept_valid:
        if not report.dry_run:
            print(
                "nothing imported: fix the refused rows, or import the valid households with --accept-valid"
            )
        raise SystemExit(1)


def cmd_export_caseload(args: argparse.Namespace) -> None:
    from pathlib import Path

    from relief_pwa.services import caseload
    from relief_pwa.services.actors import SYSTEM_ACTOR

    async def run() -> int:
        actor = await caseload.actor_for_username(args.user) if args.user else SYSTEM_ACTOR
        return await caseload.export_roster(actor, Path(args.out))

    count = run_async(run())
    print(f"{count} households written to {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relief-pwa", description="Sunshine Relief (阳光救助)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", dest="migrate", action="store_false")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed-demo", help="load the demo city (demo mode only)")
    seed.add_argument("--households", type=int, default=360)
    seed.add_argument("--force", action="store_true", help="seed even if data exists")
    seed.set_defaults(func=cmd_seed_demo)
    user = sub.add_parser("create-user", help="create a staff account")
    user.add_argument("username")
    user.add_argument("--role", required=True)
    user.add_argument("--org", required=True, help="org unit code, e.g. 370102001")
    user.add_argument("--name", default="")
    user.add_argument("--password", default="")
    user.set_defaults(func=cmd_create_user)
    rescore = sub.add_parser(
        "rescore", help="re-score every open household with the active model (one transaction)"
    )
    rescore.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that load and score in parallel on SQLite (0: in this process)",
    )
    rescore.set_defaults(func=cmd_rescore)
    imp = sub.add_parser(
        "import-caseload",
        help="bring in a bureau's roster of current recipients (XLSX or CSV), or write its template",
    )
    imp.add_argument("file", nargs="?", help="the roster, .xlsx or .csv")
    imp.add_argument("--dry-run", action="store_true", help="check every row, change nothing")
    imp.add_argument("--report", default="", help="write the validation report (XLSX) here")
    imp.add_argument(
        "--accept-valid",
        action="store_true",
        help="import the valid households even when rows are refused (refused rows go to the report)",
    )
    imp.add_argument("--template", default="", metavar="OUT.xlsx", help="write the roster template and stop")
    imp.add_argument("--user", default="", help="the city staff account importing (default: the system)")
    imp.set_defaults(func=cmd_import_caseload)
    exp = sub.add_parser("export-caseload", help="write the current recipients as a roster XLSX")
    exp.add_argument("out", metavar="OUT.xlsx")
    exp.add_argument("--user", default="", help="the staff account exporting (default: the whole city)")
    exp.set_defaults(func=cmd_export_caseload)
    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="verify the hash chain").set_defaults(func=cmd_audit_verify)
    from relief_pwa.bot.cli import add_bot_commands

    add_bot_commands(sub)  # bot-set-webhook, bot-poll, bot-console
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
