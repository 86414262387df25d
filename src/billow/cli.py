"""The ``billow`` command."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from billow import __version__
from billow.access.commands import bootstrap_admins, echo_new_admins, members_app
from billow.config import Settings, current_settings, default_data_dir, get_settings, redacted_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Billow: usage-based billing with Lago's v1 API.", no_args_is_help=True)
organizations_app = typer.Typer(help="Manage organizations.", no_args_is_help=True)
app.add_typer(organizations_app, name="organizations")
api_keys_app = typer.Typer(help="Manage API keys (create, list, revoke).", no_args_is_help=True)
app.add_typer(api_keys_app, name="api-keys")

logger = logging.getLogger("billow.cli")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"billow {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print Billow's version and exit."),
    ] = False,
) -> None:
    from billow.audit.capture import install

    install()  # the activity logs of what the commands change (source ``system``)


def _prepare_database(create: bool = False, announce: bool = True) -> str:
    """Migrate the database and return its URL; ``announce`` prints which database it is.

    A SQLite file that does not exist yet is created only when ``create`` (``serve``, ``migrate``):
    any other command run from another directory, or with a mistyped setting, would otherwise work
    on a new empty database without a word.
    """
    settings = get_settings()
    url = settings.resolved_database_url
    if announce:
        typer.echo(f"database: {_describe_database(url)}", err=True)
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        if not create:
            if settings.database_url:
                where = "set BILLOW_DATABASE_URL to an existing database"
            else:
                where = "set BILLOW_DATA_DIR to the directory of an existing database"
            typer.echo(
                f"no Billow database at {path}: `billow serve` (or `billow migrate`) creates it; "
                f"to use another one, {where}.",
                err=True,
            )
            _hint_former_data_dir(settings)
            raise typer.Exit(code=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        typer.echo(f"creating a new database at {path}", err=True)
        _hint_former_data_dir(settings)
    from billow.migrate import upgrade

    upgrade(url)
    if not url.startswith("sqlite"):
        # The job engine's tables (procrastinate, in their own schema; not Alembic's: see
        # docs/decisions/0003-job-engine.md).
        from billow.worker.engine import ensure_schema

        ensure_schema(url)
    return url


def _describe_database(url: str) -> str:
    """The database in words for the startup lines: the embedded file's path, or the URL (no password)."""
    if not get_settings().database_url:
        return f"embedded SQLite at {_sqlite_file(url)}"
    path = _sqlite_file(url)
    return f"SQLite at {path}" if path is not None else redacted_url(url)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):
        return None  # a SQLite URI filename: its own options decide (mode=ro, memory, ...)
    return Path(parsed.database).resolve()


def _hint_former_data_dir(settings: Settings) -> None:
    """Billow kept its embedded database in ``./.billow`` before the per-user data directory."""
    former = Path(".billow") / "billow.db"
    if settings.database_url or settings.data_dir != default_data_dir() or not former.exists():
        return
    typer.echo(
        f"note: {former.resolve()} (the former default location) exists; "
        "to keep using it, set BILLOW_DATA_DIR=.billow",
        err=True,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 3000,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL only).")] = 1,
) -> None:
    """Migrate the database and run the API."""
    import uvicorn

    settings = get_settings()
    if settings.api_key:
        _check_bootstrap_key(settings.api_key, settings)
    url = _prepare_database(create=True, announce=False)
    if settings.api_key:
        _bootstrap_key(url, settings.api_key, settings.organization_name)
    bootstrap_admins(url, f"http://{host}:{port}/app/")  # a dashboard admin per organization without any
    if settings.is_embedded and workers > 1:
        typer.echo("the embedded SQLite database runs one server process; ignoring --workers", err=True)
        workers = 1
    typer.echo(f"Billow listening on http://{host}:{port} (database: {_describe_database(url)})", err=True)
    from billow.worker.dispatch import dispatch_mode
    from billow.worker.inprocess import scheduler_plan

    try:
        plan = scheduler_plan(settings.is_embedded)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="BILLOW_SCHEDULER") from error
    try:
        dispatch = dispatch_mode()
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="BILLOW_DISPATCH") from error
    if plan == "inprocess":
        typer.echo("background scans (billing, ...) run inside this server (BILLOW_SCHEDULER)", err=True)
    elif plan == "leader":
        typer.echo(
            "background scans (billing, ...) run inside one server process, elected by a PostgreSQL "
            "advisory lock (BILLOW_SCHEDULER=auto; set it to off when `billow worker` runs)",
            err=True,
        )
    elif not settings.is_embedded:
        typer.echo("background scans are off here (BILLOW_SCHEDULER=off): run `billow worker`", err=True)
    else:
        typer.echo("background scans are off (BILLOW_SCHEDULER=off): run `billow bill`", err=True)
    if dispatch == "off":
        typer.echo("work that follows API calls waits for the scans (BILLOW_DISPATCH=off)", err=True)
    where_to_listen: dict[str, Any] = {"host": host, "port": port}
    if workers > 1:
        # uvicorn binds the shared socket of its workers without naming the TCP protocol, so asyncio
        # does not set TCP_NODELAY on the connections it accepts, and responses (headers, then body)
        # wait for the client's delayed ACK: ~40 ms per request. A listening socket with TCP_NODELAY
        # passes it on to every accepted connection (Linux).
        listener = _listening_socket(host, port)
        where_to_listen = {"fd": listener.fileno()}
    from billow.kit.logs import uvicorn_options

    now = current_settings()
    options = {**where_to_listen, **uvicorn_options(now.resolved_log_format, now.log_level)}
    uvicorn.run("billow.app:serve_app", factory=True, workers=workers, **options)


@app.command()
def migrate(
    rotate_secrets: Annotated[
        bool, typer.Option("--rotate-secrets", help="Re-seal every secret with the first BILLOW_SECRET_KEY.")
    ] = False,
) -> None:
    """Apply database migrations to BILLOW_DATABASE_URL (or the embedded database)."""
    url = _prepare_database(create=True, announce=False)
    typer.echo(f"migrated {_describe_database(url)}")
    if rotate_secrets:
        from billow.migrate import rotate_secrets as rotate

        typer.echo(f"re-sealed {rotate(url)} secret(s) with the first BILLOW_SECRET_KEY")


@contextmanager
def _transaction() -> Iterator[Session]:
    """A session on the (migrated) database, committed when the block ends, rolled back if it raises."""
    from billow.db import make_engine, make_sessionmaker

    engine = make_engine(_prepare_database())
    try:
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _warn(message: str) -> None:
    """A warning on stderr, and in the log when logging is set up (otherwise it would print twice)."""
    typer.echo(f"WARNING: {message}", err=True)
    if logger.hasHandlers():
        logger.warning(message)


def _when(instant: datetime | None) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ") if instant is not None else "-"


def _echo_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    for line in (headers, *rows):
        typer.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


@organizations_app.command("create")
def create_organization(name: Annotated[str, typer.Option(help="Organization name.")]) -> None:
    """Create an organization and print its API key and dashboard admin (shown once)."""
    from billow.organizations.service import organization_service

    with _transaction() as session:
        organization, key = organization_service.create(session, name=name)
        typer.echo(f"organization: {organization.id}")
        typer.echo(f"api key (shown once, store it now): {key}")
        echo_new_admins(session, "the dashboard (`billow serve`, /app/)")


@organizations_app.command("list")
def list_organizations() -> None:
    """List the organizations: id, name, creation, active API keys, customers."""
    from billow.organizations.service import organization_service

    with _transaction() as session:
        rows = [
            [str(org.id), org.name, _when(org.created_at), str(keys), str(customers)]
            for org, keys, customers in organization_service.listing(session)
        ]
    if not rows:
        typer.echo("no organizations (`billow organizations create --name NAME`)", err=True)
        return
    _echo_table(["ID", "NAME", "CREATED_AT", "ACTIVE_KEYS", "CUSTOMERS"], rows)


@organizations_app.command("delete")
def delete_organization(
    organization_id: Annotated[str, typer.Argument(metavar="ID", help="The organization's id.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Really delete (without it: print what would be deleted).")
    ] = False,
) -> None:
    """Delete an organization and everything it owns (customers, subscriptions, events, invoices, keys,
    ...). Without --yes, print what would be deleted and delete nothing."""
    import uuid

    from billow.organizations.service import LookupFailed, organization_service

    try:
        uuid.UUID(organization_id)
    except ValueError:
        raise _fail(f"{organization_id!r} is not an organization id (`billow organizations list`)") from None
    with _transaction() as session:
        try:
            organization = organization_service.resolve(session, organization_id)
        except LookupFailed as error:
            raise _fail(str(error)) from None
        described = f"organization {organization.id} ({organization.name!r})"
        if not yes:
            owned = organization_service.owned_rows(session, organization)
            typer.echo(f"{described} and everything it owns would be deleted:")
            for table, count in sorted(owned.items()):
                typer.echo(f"  {table}: {count}")
            raise _fail("nothing deleted: run again with --yes to delete it")
        deleted = organization_service.delete(session, organization)
    typer.echo(f"deleted {described}:")
    for table, count in sorted(deleted.items()):
        typer.echo(f"  {table}: {count}")


@api_keys_app.command("create")
def create_api_key(
    organization: Annotated[str, typer.Option(help="The organization's id or name.")],
    name: Annotated[str | None, typer.Option(help="What the key is for (shown in listings).")] = None,
) -> None:
    """Create an API key for an organization and print it (shown once). Rotate a key: create the new
    one, deploy it, then `billow api-keys revoke` the old one."""
    from billow.organizations.service import LookupFailed, organization_service

    with _transaction() as session:
        try:
            owner = organization_service.resolve(session, organization)
        except LookupFailed as error:
            raise _fail(str(error)) from None
        key, raw_key = organization_service.create_key(session, owner, name)
        typer.echo(f"organization: {owner.id} ({owner.name})")
        typer.echo(f"api key id: {key.id}")
        typer.echo(f"api key (shown once, store it now): {raw_key}")


@api_keys_app.command("list")
def list_api_keys(
    organization: Annotated[
        str | None, typer.Option(help="Only this organization's keys (id or name).")
    ] = None,
) -> None:
    """List API keys (never the keys themselves): id, organization, name, prefix, creation, revocation."""
    from billow.organizations.service import LookupFailed, organization_service

    with _transaction() as session:
        try:
            owner = organization_service.resolve(session, organization) if organization else None
        except LookupFailed as error:
            raise _fail(str(error)) from None
        rows = [
            [
                str(key.id),
                str(key.organization_id),
                organization_name,
                key.name or "-",
                f"{key.prefix}..." if key.prefix else "-",
                _when(key.created_at),
                _when(key.revoked_at),
            ]
            for key, organization_name in organization_service.keys(session, owner)
        ]
    if not rows:
        typer.echo("no API keys", err=True)
        return
    _echo_table(["ID", "ORGANIZATION_ID", "ORGANIZATION", "NAME", "PREFIX", "CREATED_AT", "REVOKED_AT"], rows)


@api_keys_app.command("revoke")
def revoke_api_key(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id (`billow api-keys list`).")],
) -> None:
    """Revoke an API key: requests with it answer 401 from now on (no server caches keys)."""
    from billow.organizations.service import LookupFailed, organization_service

    with _transaction() as session:
        try:
            key, already, active_left = organization_service.revoke_key(session, key_id)
        except LookupFailed as error:
            raise _fail(str(error)) from None
        organization_id, revoked_at = key.organization_id, key.revoked_at
    if already:
        typer.echo(f"API key {key_id} was already revoked at {_when(revoked_at)}")
        return
    typer.echo(f"revoked API key {key_id} of organization {organization_id}: it answers 401 from now on")
    if not active_left:
        _warn(
            f"organization {organization_id} has no active API key left; "
            f"create one with `billow api-keys create --organization {organization_id}`"
        )


@app.command()
def bill(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=(
                "Bill what is due at this ISO-8601 instant (default: now). An instant without a fraction "
                "of a second means the end of that second: 2024-02-01T00:00:00Z bills what is due up to "
                "2024-02-01T00:00:00.999999Z (a date alone: the end of its first second, UTC)."
            ),
        ),
    ] = None,
    allow_future: Annotated[
        bool,
        typer.Option(
            "--allow-future",
            help="Accept an --as-of in the future (demos, tests): it bills periods that have not ended. "
            "(--dry-run accepts one without it.)",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print what would be billed (customer, subscription, reason, period, due instant); "
            "write nothing.",
        ),
    ] = False,
) -> None:
    """Bill every subscription invoice due (catching up missed periods) and print a summary."""
    import logging
    from datetime import UTC, datetime

    from billow.db import make_engine, make_sessionmaker

    now = datetime.now(UTC)
    instant = now if as_of is None else _parse_as_of(as_of)
    # A whole second names the second it starts (``date -u +%FT%TZ`` run now is not the future).
    if instant.replace(microsecond=0) > now and not (allow_future or dry_run):
        raise typer.BadParameter(
            f"{as_of} is in the future: billing it would issue invoices for periods that have not ended. "
            "Pass --allow-future to do it anyway (demos, tests).",
            param_hint="--as-of",
        )
    level = getattr(logging, current_settings().log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = _prepare_database()
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        if dry_run:
            from billow.billing.dry_run import planned_invoices

            planned = planned_invoices(factory, instant)
            typer.echo(f"dry run as of {instant.isoformat()}: {len(planned)} invoice(s) would be created")
            for item in planned:
                typer.echo(item.describe())
            return
        from billow.billing.pay_in_advance import create_pay_in_advance_fees
        from billow.billing.progressive import bill_thresholds
        from billow.billing.run import bill_due

        # A run bills at most BILLOW_MAX_PERIODS_PER_RUN periods per subscription: run again while
        # some are left and the last run made progress.
        summaries = [bill_due(factory, instant)]
        while summaries[-1].deferred and summaries[-1].invoices_created:
            summaries.append(bill_due(factory, instant))
        # What the other billing scans would do: pay-in-advance fees of events without one
        # (reconcile pass) and progressive billing of reached usage thresholds.
        in_advance = create_pay_in_advance_fees(factory, instant)
        progressive = bill_thresholds(factory, instant)
    finally:
        engine.dispose()
    for summary in summaries:
        typer.echo(str(summary))
    typer.echo(
        f"pay-in-advance charges: {in_advance.fees_created} fee(s), {in_advance.invoices_created} "
        f"invoice(s) created, {len(in_advance.failed)} failed; progressive billing: "
        f"{progressive.invoices_created} invoice(s) created, {len(progressive.failed)} failed"
    )
    # Exit status: 0 everything billed; 3 the run went through but some subscriptions failed and are
    # recorded as failed invoices (GET /invoices?status=failed; retried by every run); 1 some failure
    # could not be recorded (transitions, pay-in-advance fees, progressive billing).
    recorded = list(dict.fromkeys(invoice_id for s in summaries for invoice_id in s.failed_invoice_ids))
    failed = list(dict.fromkeys(failure for s in summaries for failure in s.failed))
    unrecorded = [
        *dict.fromkeys(failure for s in summaries for failure in s.unrecorded),
        *in_advance.failed,
        *progressive.failed,
    ]
    for failure in [*failed, *in_advance.failed, *progressive.failed]:
        typer.echo(f"failed: {failure}", err=True)
    for invoice_id in recorded:
        typer.echo(f"failed invoice: {invoice_id}", err=True)
    if unrecorded:
        raise typer.Exit(code=1)
    if failed:
        raise typer.Exit(code=3)


def _parse_as_of(text: str) -> datetime:
    """``--as-of``: an ISO-8601 instant (UTC when it has no offset); without a fraction of a second, the
    end of that second (stored instants have microseconds: 00:00:00 would miss what is due at
    00:00:00.5)."""
    from billow.kit.time import parse_instant

    try:
        instant = parse_instant(text.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError) as error:
        raise typer.BadParameter(f"not an ISO-8601 instant: {text}", param_hint="--as-of") from error
    if not _FRACTION.search(text):
        instant = instant.replace(microsecond=999_999)
    return instant


#: A fraction of a second in an ISO-8601 time (``12:00:00.5``, ``12:00:00,5``).
_FRACTION = re.compile(r"\d:\d\d[.,]\d")


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, help="Jobs run at the same time by this worker (each in a thread).")
    ] = 4,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue", "-q", help="Process only this queue (repeatable): scans, items. Default: all."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Worker name, shown in logs.")] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Stop when the queues are empty instead of waiting for jobs.")
    ] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port (/metrics).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface of the metrics port.")] = "127.0.0.1",
) -> None:
    """Run the job engine (PostgreSQL): periodic scans (billing, rollup journal pruning, ...) and their
    jobs. Start any number of workers, on any number of machines."""
    settings = get_settings()
    if settings.is_embedded:
        typer.echo(
            "billow worker needs PostgreSQL (BILLOW_DATABASE_URL). With the embedded SQLite database, "
            "`billow serve` runs the background scans itself.",
            err=True,
        )
        raise typer.Exit(code=2)
    from billow.worker.engine import serve_worker

    url = _prepare_database()
    typer.echo(f"Billow worker on {redacted_url(url)} (concurrency {concurrency})", err=True)
    metrics_at = (metrics_host, metrics_port) if metrics_port is not None else None
    if metrics_at is not None:
        typer.echo(f"metrics on http://{metrics_host}:{metrics_port}/metrics", err=True)
    settings = current_settings()
    serve_worker(url, concurrency, queue, name, wait=not once, metrics_at=metrics_at, settings=settings)


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def _check_bootstrap_key(raw_key: str, settings: Settings) -> None:
    """Refuse a ``BILLOW_API_KEY`` too short to be secret outside development; accept it loudly there."""
    from billow.organizations.service import MIN_BOOTSTRAP_KEY_LENGTH, bootstrap_key_problem

    problem = bootstrap_key_problem(raw_key, development=settings.is_development)
    if problem is not None:
        raise _fail(problem, code=2)
    if len(raw_key) < MIN_BOOTSTRAP_KEY_LENGTH:
        why = "BILLOW_ENV=development" if settings.env == "development" else "the database is SQLite"
        _warn(
            f"BILLOW_API_KEY is {len(raw_key)} characters long, short enough to be guessed; accepted "
            f"because this is development ({why}). Anywhere else (PostgreSQL, or BILLOW_ENV=production) "
            f"Billow refuses keys shorter than {MIN_BOOTSTRAP_KEY_LENGTH} characters."
        )


def _bootstrap_key(url: str, raw_key: str, name: str) -> None:
    """Make sure an organization owns ``BILLOW_API_KEY``: create one if none does (and warn when other
    organizations exist: a changed key opens a new, empty organization)."""
    from billow.db import make_engine, make_sessionmaker
    from billow.organizations.service import KeyRevoked, organization_service

    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            result = organization_service.ensure_for_key(session, raw_key=raw_key, name=name)
    except KeyRevoked as error:
        raise _fail(
            f"BILLOW_API_KEY cannot be used: {error}. Unset it, or set it to an active key "
            "(`billow api-keys create`).",
            code=2,
        ) from None
    finally:
        engine.dispose()
    if not result.created:
        return
    if result.others:
        _warn(
            f"BILLOW_API_KEY does not match any key of the {result.others} existing organization(s); "
            f"creating a new organization {name!r} ({result.organization.id}) for it. If you meant to "
            "rotate the key of an existing organization, use `billow api-keys create --organization ...` "
            "(then `billow api-keys revoke` the old key) and delete this one with `billow organizations "
            f"delete {result.organization.id} --yes`."
        )
    typer.echo(f"created organization {name!r} for BILLOW_API_KEY", err=True)


app.add_typer(members_app(_transaction), name="members")  # billow.access.commands

if __name__ == "__main__":
    app()
