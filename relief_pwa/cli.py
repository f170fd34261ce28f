"""The ``relief-pwa`` command line: serve, migrate, init, seed-demo, create-user, import-caseload, keys…"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
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


async def _migrate() -> str:
    """Apply the migrations not yet run; one line saying what happened.

    Piccolo's own report counts every migration as "already complete" even on
    an empty database, so it is kept (and shown only when a migration fails)."""
    import contextlib
    import io
    import re

    from piccolo.apps.migrations.commands.forwards import run_forwards

    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        result = await run_forwards("relief")
    if not result.success:
        sys.stderr.write(report.getvalue())
        raise SystemExit(f"migration failed: {result.message}")
    applied = len(re.findall(r"\[forwards\]\.\.\. ok", report.getvalue()))
    if applied:
        return f"migrations: {applied} applied, the database is up to date"
    return "migrations: none to apply, the database is up to date"


def cmd_migrate(_: argparse.Namespace) -> None:
    print(run_async(_migrate()))


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    if args.migrate:
        print(run_async(_migrate()))
    if settings.is_production:
        from relief_pwa.services.auth import accounts_with_demo_passwords

        demo = run_async(accounts_with_demo_passwords())
        if demo:
            raise SystemExit(
                f"refusing to start in production: {len(demo)} active account(s) still have a demo password "
                f"({', '.join(demo[:10])}); reset their passwords or disable them first"
            )
    print(
        f"Sunshine Relief on http://{args.host}:{args.port} ({settings.mode} mode, {settings.database_url})"
    )
    import copy

    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["relief_pwa"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run(
        "relief_pwa.asgi:app",
        log_config=log_config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        # The client address is resolved by the app itself (handlers/common.py client_address),
        # trusting X-Forwarded-For only from RELIEF_TRUSTED_PROXIES: uvicorn must not rewrite it.
        proxy_headers=False,
        access_log=False,  # relief_pwa.access logs route templates, never raw paths or query strings
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
    from relief_pwa.core.errors import DomainError
    from relief_pwa.i18n import translate
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.auth import do_create_staff
    from relief_pwa.services.passwords import check_new_password

    password = args.password or getpass.getpass("Password: ")
    try:
        # The one password policy, checked before anything touches the database.
        check_new_password(password, username=args.username)
    except DomainError as exc:
        raise SystemExit(f"refused: {translate(exc.message, **exc.params)}") from exc

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

    try:
        staff_id = run_async(run())
    except DomainError as exc:
        raise SystemExit(f"refused: {translate(exc.message, **exc.params)}") from exc
    print(f"created staff {args.username} (id {staff_id})")


def _read_password_file(path: str) -> str:
    from pathlib import Path

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SystemExit(f"cannot read the password file: {exc}") from exc
    return lines[0].strip() if lines else ""


def cmd_init(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from relief_pwa.core.errors import DomainError
    from relief_pwa.services.bootstrap import InitResult, do_init, needs_admin

    run_async(_migrate())

    async def run() -> InitResult | str:
        password: str | None = None
        if await needs_admin():
            if args.password_file:
                password = _read_password_file(args.password_file)
            else:
                password = getpass.getpass(f"Password for {args.admin}: ")
                if password != getpass.getpass("Repeat the password: "):
                    return "the passwords differ"
        try:
            return await do_init(args.admin, password, now=datetime.now(UTC))
        except DomainError as exc:
            return str(exc)

    result = run_async(run())
    if isinstance(result, str):
        raise SystemExit(f"init refused: {result}")
    if not result.changed:
        print("already initialised: nothing changed")
        return
    print(
        f"initialised: {result.units_created} org units, {result.calendar_days_added} calendar days"
        + (f", city account {args.admin}" if result.admin_created else "")
    )


def cmd_import_org(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from relief_pwa.adapters.orgfile import parse_org_file
    from relief_pwa.core.errors import DomainError
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.org_import import ImportPlan, do_import_org

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise SystemExit(f"cannot read {args.file}: {exc}") from exc

    async def run() -> ImportPlan | str:
        try:
            rows = parse_org_file(data, args.file)
            return await do_import_org(SYSTEM_ACTOR, rows, now=datetime.now(UTC), dry_run=args.dry_run)
        except DomainError as exc:
            return str(exc)

    plan = run_async(run())
    if isinstance(plan, str):
        raise SystemExit(f"import refused: {plan}")
    for problem in plan.problems:
        print(
            f"line {problem.line} ({problem.code}): {problem.message.format(**problem.params)}",
            file=sys.stderr,
        )
    summary = (
        f"{len(plan.create)} new, {len(plan.rename)} renamed, "
        f"{len(plan.update_office)} office details changed, {plan.unchanged} unchanged"
    )
    if plan.problems:
        raise SystemExit(
            f"import refused: {len(plan.problems)} rows with problems, nothing written ({summary})"
        )
    print(("dry run, nothing written: " if args.dry_run else "imported: ") + summary)


def cmd_load_calendar(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from relief_pwa.core.errors import DomainError
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.rules import do_load_calendar_text

    try:
        text = Path(args.file).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"cannot read {args.file}: {exc}") from exc

    async def run() -> int | str:
        try:
            return await do_load_calendar_text(SYSTEM_ACTOR, text, now=datetime.now(UTC))
        except DomainError as exc:
            return str(exc)

    result = run_async(run())
    if isinstance(result, str):
        raise SystemExit(f"calendar refused: {result}")
    print(f"calendar loaded: {result} days added or changed")


def cmd_audit_verify(_: argparse.Namespace) -> None:
    from relief_pwa.services.audit import verify_chain

    report = run_async(verify_chain())
    if report.ok:
        print(
            f"audit chain OK: {report.events_checked} events verified, "
            f"{report.checkpoints_checked} published checkpoints match"
        )
        return
    assert report.first_break is not None
    print(
        f"audit chain BROKEN at event {report.first_break.seq}: {report.first_break.message} "
        f"({report.events_checked} events before it verified)"
    )
    raise SystemExit(1)


def cmd_audit_checkpoint(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from relief_pwa.services.audit import checkpoint_file, publish_checkpoint

    checkpoint = run_async(publish_checkpoint(now=datetime.now(UTC), force=args.force))
    if checkpoint is None:
        print("no new checkpoint: the chain head has not moved since the last one (or the chain is empty)")
        return
    print(f"checkpoint published: event {checkpoint.seq} {checkpoint.head_hash} ({checkpoint_file()})")


def cmd_backup(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from relief_pwa.services.backup import BackupError, create_backup

    try:
        result = run_async(create_backup(get_settings(), Path(args.out).resolve(), now=datetime.now(UTC)))
    except BackupError as exc:
        print(f"backup refused: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    rows = sum(result.row_counts.values())
    print(
        f"backup written: {result.path} ({result.size_bytes} bytes, encrypted; "
        f"{rows} rows in {len(result.row_counts)} tables, {result.media_files} photos)"
    )


def cmd_restore(args: argparse.Namespace) -> None:
    from pathlib import Path

    from relief_pwa.adapters.backupcrypt import BackupDecryptError
    from relief_pwa.services.audit import verify_chain
    from relief_pwa.services.backup import BackupError, restore_backup

    try:
        result = run_async(restore_backup(get_settings(), Path(args.source).resolve()))
    except (BackupError, BackupDecryptError) as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    rows = sum(result.row_counts.values())
    print(
        f"restored the backup of {result.created_at}: {rows} rows in {len(result.row_counts)} tables "
        f"(counts match the manifest), {result.media_files} photos (checksums match)"
    )
    report = run_async(verify_chain())
    if not report.ok:
        assert report.first_break is not None
        print(f"audit chain BROKEN at event {report.first_break.seq}: {report.first_break.message}")
        raise SystemExit(1)
    print(f"audit chain OK: {report.events_checked} events, {report.checkpoints_checked} checkpoints")


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


def cmd_tick(args: argparse.Namespace) -> None:
    """Run the daily tasks that are due (cron or a systemd timer; docs/scheduler.md)."""
    from datetime import datetime

    from relief_pwa.clock import CHINA_TZ, SystemClock
    from relief_pwa.services.scheduler import run_tick

    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError as exc:
            raise SystemExit(f"--at must be an ISO time, e.g. 2026-03-01T06:00+08:00 ({exc})") from exc
        now = at if at.tzinfo is not None else at.replace(tzinfo=CHINA_TZ)  # a bare time is Beijing time
    else:
        now = SystemClock().now()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    report = run_async(run_tick(now, only=only))
    if report.locked_out:
        print(f"{report.day}: another tick is running; nothing done")
        return
    for outcome in report.outcomes:
        detail = (
            f" {outcome.count}"
            if outcome.status == "done"
            else (f" {outcome.error}" if outcome.error else "")
        )
        print(f"{report.day} {outcome.task}: {outcome.status}{detail}")
    if any(o.status == "failed" for o in report.outcomes):
        raise SystemExit(1)


def cmd_worker(args: argparse.Namespace) -> None:
    """Run queued jobs, the daily tick's schedule and the bot outbox (PostgreSQL; docs/scale.md)."""
    import signal

    from relief_pwa.clock import SystemClock
    from relief_pwa.services import queue

    settings = get_settings()
    if settings.is_sqlite:
        raise SystemExit(
            "relief-pwa worker needs PostgreSQL: on SQLite the app runs its jobs itself (docs/scale.md)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        clock = SystemClock()
        if args.drain:
            await queue.install_schema()
            await queue.drain(clock)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        runtime = None
        if (settings.bot_token or settings.sms_gateway_url) and not args.no_outbox:
            from relief_pwa.bot.app import BotRuntime

            # The outbox sender, paced with every other process's through the database. With
            # no bot it sends SMS only: the staff console's chats belong to the web process.
            runtime = BotRuntime(settings, clock, sms_only=not settings.bot_token)
            await runtime.start()
        try:
            await queue.run_worker(
                settings.database_url,
                clock,
                options=queue.WorkerOptions(tick_cron=args.tick_cron),
                stop=stop,
                started=lambda: print("worker ready", flush=True),
            )
        finally:
            if runtime is not None:
                await runtime.stop()

    run_async(run())


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    from relief_pwa.clock import SystemClock
    from relief_pwa.services.key_rotation import rotate_keys

    def progress(table: str, done: int) -> None:
        print(f"  {table}: {done} rows re-sealed so far", flush=True)

    result = run_async(rotate_keys(now=SystemClock().now(), batch=args.batch, progress=progress))
    print(f"re-sealed {result.resealed} rows under key {result.key_id}; {result.remaining} values left")
    if result.remaining:
        raise SystemExit(1)


def cmd_photos_migrate(_: argparse.Namespace) -> None:
    from relief_pwa.adapters.storage import S3PhotoStore
    from relief_pwa.services.photos import (
        MigrationReport,
        local_photo_store,
        migrate_local_photos,
        photo_store,
    )

    target = photo_store()
    if not isinstance(target, S3PhotoStore):
        print(
            "RELIEF_PHOTO_STORE names no bucket (s3://bucket/prefix): nothing to migrate to", file=sys.stderr
        )
        raise SystemExit(2)
    source = local_photo_store()

    def progress(report: MigrationReport) -> None:
        done = report.copied + report.already
        if done % 500 == 0:
            print(f"  {done} files: {report.copied} copied, {report.already} already there", flush=True)

    report = run_async(migrate_local_photos(source, target, progress=progress))
    print(
        f"{source.describe()} -> {target.describe()}: {report.copied} copied and verified, "
        f"{report.already} already there, {len(report.failed)} failed"
    )
    for failure in report.failed[:20]:
        print(f"  failed: {failure}", file=sys.stderr)
    if not report.ok:
        print("run the command again to retry the failed files", file=sys.stderr)
        raise SystemExit(1)


def cmd_keys_new(_: argparse.Namespace) -> None:
    from relief_pwa.adapters.crypto import new_data_key_line, new_index_key

    print("data key (put it first in RELIEF_DATA_KEYS, keep the old ones after it):")
    print(new_data_key_line(f"k{int(time.time())}"))
    print("blind-index key (RELIEF_BLIND_INDEX_KEY, only for a new installation):")
    print(new_index_key())


RETENTION_LOCKED_EXIT = 3  # another run holds the lock (docs/retention.md)


def cmd_retention(args: argparse.Namespace) -> None:
    from relief_pwa.clock import SystemClock
    from relief_pwa.services.retention import run_retention

    dry_run = not args.run

    def progress(rule: str, done: int) -> None:
        print(f"  {rule}: {done} rows so far", flush=True)

    report = run_async(
        run_retention(now=SystemClock().now(), dry_run=dry_run, batch=args.batch, progress=progress)
    )
    if report.locked_out:
        print("retention: another retention run is in progress; nothing done", file=sys.stderr)
        raise SystemExit(RETENTION_LOCKED_EXIT)
    print("retention dry run: nothing changed" if dry_run else "retention run:")
    for outcome in report.outcomes:
        rule = outcome.rule
        if outcome.cutoff is None:
            period = "never removed" if rule.keep_days is None else f"{rule.keep_days} days"
            print(f"  {rule.key}: kept ({period}; {rule.basis})")
            continue
        before = outcome.cutoff.date().isoformat()
        if dry_run:
            print(
                f"  {rule.key}: {outcome.due} rows to {rule.action.value} "
                f"(older than {before}, {rule.keep_days} days)"
            )
        else:
            print(f"  {rule.key}: {outcome.done} rows {rule.action.value}d (older than {before})")
    if not dry_run:
        print(f"  photo files removed: {report.photo_files_deleted}")


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
        from relief_pwa.clock import SystemClock

        return await caseload.export_roster(actor, Path(args.out), now=SystemClock().now())

    count = run_async(run())
    print(f"{count} households written to {args.out}")


def cmd_datacheck_export(args: argparse.Namespace) -> None:
    """Write one batch file per agency with pending requests (or only ``--agency``) into OUT."""
    from pathlib import Path

    from relief_pwa.clock import SystemClock
    from relief_pwa.core.datacheck import Agency, parse_agency
    from relief_pwa.core.errors import DomainError
    from relief_pwa.i18n import translate
    from relief_pwa.services import caseload, datacheck
    from relief_pwa.services.actors import SYSTEM_ACTOR

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    async def run() -> list[str]:
        actor = await caseload.actor_for_username(args.user) if args.user else SYSTEM_ACTOR
        pending = await datacheck.pending_counts(actor)
        agencies = [parse_agency(args.agency)] if args.agency else [a for a in Agency if a.value in pending]
        lines = []
        for agency in agencies:
            try:
                batch = await datacheck.do_export_batch(actor, agency, now=SystemClock().now())
            except DomainError as exc:
                if args.agency:
                    raise
                # One agency with nothing authorised to send does not stop the others.
                lines.append(f"{agency.value}: {translate(exc.message, **exc.params)}")
                continue
            (out / batch.filename).write_bytes(batch.content)
            waiting = f", {batch.skipped} waiting for an authorisation" if batch.skipped else ""
            lines.append(f"{out / batch.filename}: batch {batch.batch_id}, {batch.persons} persons{waiting}")
        return lines

    try:
        lines = run_async(run())
    except DomainError as exc:
        raise SystemExit(f"export refused: {translate(exc.message, **exc.params)}") from exc
    print("\n".join(lines) if lines else "no check requests are waiting")


def cmd_datacheck_import(args: argparse.Namespace) -> None:
    """Apply one agency's result file, whole or not at all (row-level problems listed)."""
    from pathlib import Path

    from relief_pwa.clock import SystemClock
    from relief_pwa.core.errors import DomainError
    from relief_pwa.i18n import translate
    from relief_pwa.services import caseload, datacheck
    from relief_pwa.services.actors import SYSTEM_ACTOR

    path = Path(args.file)
    data = path.read_bytes()

    async def run() -> datacheck.ImportResult:
        actor = await caseload.actor_for_username(args.user) if args.user else SYSTEM_ACTOR
        return await datacheck.do_import_results(actor, data, path.name, now=SystemClock().now())

    try:
        result = run_async(run())
    except datacheck.DataCheckRejected as exc:
        for problem in exc.problems:
            print(f"row {problem.row}: {translate(problem.message, **problem.params)}", file=sys.stderr)
        raise SystemExit(f"import refused: {translate(exc.message, **exc.params)}") from exc
    except DomainError as exc:
        raise SystemExit(f"import refused: {translate(exc.message, **exc.params)}") from exc
    print(
        f"batch {result.batch_id} ({result.agency.value}): {result.answered} answers, "
        f"{result.confirmed} confirmed, {result.new_versions} changed, {result.new_items} undeclared items, "
        f"{result.warnings} exclusion warnings, {result.changed} re-check changes to review; "
        f"batch {result.batch_status}"
    )


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
    init = sub.add_parser(
        "init", help="go live on an empty database: migrate, load the org network, create the first account"
    )
    init.add_argument("--admin", required=True, help="username of the first city account")
    init.add_argument("--password-file", default="", help="read its password from this file (first line)")
    init.set_defaults(func=cmd_init)
    org = sub.add_parser("import-org", help="load communities and villages from the bureau's .xlsx or .csv")
    org.add_argument("file")
    org.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    org.set_defaults(func=cmd_import_org)
    calendar = sub.add_parser(
        "load-calendar", help="load public holidays and adjusted workdays (CSV: date,kind,name)"
    )
    calendar.add_argument("file")
    calendar.set_defaults(func=cmd_load_calendar)
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
        help="processes that load and score in parallel (0: in this process)",
    )
    rescore.set_defaults(func=cmd_rescore)
    tick = sub.add_parser(
        "tick",
        help="run the daily time-driven work that is due (for cron or a systemd timer; safe to repeat)",
    )
    tick.add_argument("--at", default="", help="act as if it were this ISO time (Beijing time if no offset)")
    tick.add_argument("--only", default="", help="comma-separated task names (default: every task)")
    tick.set_defaults(func=cmd_tick)
    worker = sub.add_parser(
        "worker", help="run queued jobs, the daily tick and the bot outbox (PostgreSQL; as many as you like)"
    )
    worker.add_argument("--tick-cron", default="*/10 * * * *", help="when to look for due daily work (cron)")
    worker.add_argument("--no-outbox", action="store_true", help="leave the bot outbox to other processes")
    worker.add_argument("--drain", action="store_true", help="run the queued jobs, then exit")
    worker.set_defaults(func=cmd_worker)
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
    check = sub.add_parser("datacheck", help="data checks with other agencies: batch files and results")
    check_sub = check.add_subparsers(dest="datacheck_command", required=True)
    check_export = check_sub.add_parser("export", help="write the pending check requests as batch files")
    check_export.add_argument("out", metavar="OUT", help="the directory for the files (one per agency)")
    check_export.add_argument("--agency", default="", help="only this agency (default: every agency waiting)")
    check_export.add_argument("--user", default="", help="the staff account exporting (default: the system)")
    check_export.set_defaults(func=cmd_datacheck_export)
    check_import = check_sub.add_parser("import", help="apply an agency's result file (CSV or XLSX)")
    check_import.add_argument("file")
    check_import.add_argument("--user", default="", help="the staff account importing (default: the system)")
    check_import.set_defaults(func=cmd_datacheck_import)
    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "verify", help="verify the hash chain against every published checkpoint"
    ).set_defaults(func=cmd_audit_verify)
    checkpoint = audit_sub.add_parser("checkpoint", help="publish a checkpoint of the chain head now")
    checkpoint.add_argument("--force", action="store_true", help="even when the head has not moved")
    checkpoint.set_defaults(func=cmd_audit_checkpoint)
    backup = sub.add_parser("backup", help="write an encrypted backup (database and photos) to a new file")
    backup.add_argument("out")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="restore a backup into an empty database, then verify the audit chain"
    )
    restore.add_argument("source")
    restore.set_defaults(func=cmd_restore)
    keys = sub.add_parser("keys", help="identifier keys: make new ones, re-seal under the current one")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("new", help="print a new data key and blind-index key").set_defaults(
        func=cmd_keys_new
    )
    rotate = keys_sub.add_parser(
        "rotate", help="re-seal every identifier under the current data key (resumable)"
    )
    rotate.add_argument("--batch", type=int, default=1000)
    rotate.set_defaults(func=cmd_keys_rotate)
    retention = sub.add_parser(
        "retention", help="delete or anonymise personal data past its retention period (dry run by default)"
    )
    mode = retention.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="count what is due, change nothing (the default)"
    )
    mode.add_argument("--run", action="store_true", help="delete and anonymise what is due, in batches")
    retention.add_argument("--batch", type=int, default=500)
    retention.set_defaults(func=cmd_retention)
    photos = sub.add_parser("photos", help="photo store tools")
    photos_sub = photos.add_subparsers(dest="photos_command", required=True)
    photos_sub.add_parser(
        "migrate",
        help="copy local photos to the bucket named by RELIEF_PHOTO_STORE (idempotent, resumable, verified)",
    ).set_defaults(func=cmd_photos_migrate)
    from relief_pwa.bot.cli import add_bot_commands

    add_bot_commands(sub)  # bot-set-webhook, bot-poll, bot-console
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        from relief_pwa.filesafety import secure_files
        from relief_pwa.logsafety import install_log_redaction

        settings = get_settings()
        install_log_redaction(settings.bot_token)
        secure_files(settings)
        args.func(args)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
