"""The ``billow`` command."""

from __future__ import annotations

import os
import socket
from typing import Annotated, Any

import typer

from billow.config import get_settings

app = typer.Typer(help="Billow: usage-based billing with Lago's v1 API.", no_args_is_help=True)
organizations_app = typer.Typer(help="Manage organizations.", no_args_is_help=True)
app.add_typer(organizations_app, name="organizations")


def _prepare_database() -> str:
    settings = get_settings()
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    from billow.migrate import upgrade

    upgrade(url)
    return url


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 3000,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL only).")] = 1,
) -> None:
    """Migrate the database and run the API."""
    import uvicorn

    settings = get_settings()
    url = _prepare_database()
    if settings.api_key:
        _bootstrap_key(settings.api_key, settings.organization_name)
    if settings.is_embedded and workers > 1:
        typer.echo("the embedded SQLite database runs one server process; ignoring --workers", err=True)
        workers = 1
    where = "embedded SQLite at " + str(settings.data_dir) if settings.is_embedded else _redact(url)
    typer.echo(f"Billow listening on http://{host}:{port} (database: {where})", err=True)
    where_to_listen: dict[str, Any] = {"host": host, "port": port}
    if workers > 1:
        # uvicorn binds the shared socket of its workers without naming the TCP protocol, so asyncio
        # does not set TCP_NODELAY on the connections it accepts, and responses (headers, then body)
        # wait for the client's delayed ACK: ~40 ms per request. A listening socket with TCP_NODELAY
        # passes it on to every accepted connection (Linux).
        listener = _listening_socket(host, port)
        where_to_listen = {"fd": listener.fileno()}
    uvicorn.run(
        "billow.app:create_app",
        factory=True,
        workers=workers,
        log_level=os.environ.get("BILLOW_LOG_LEVEL", "info"),
        **where_to_listen,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations to BILLOW_DATABASE_URL (or the embedded database)."""
    url = _prepare_database()
    typer.echo(f"migrated {_redact(url)}")


@organizations_app.command("create")
def create_organization(name: Annotated[str, typer.Option(help="Organization name.")]) -> None:
    """Create an organization and print its API key (shown once)."""
    from billow.db import make_engine, make_sessionmaker
    from billow.organizations.service import organization_service

    url = _prepare_database()
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        organization, key = organization_service.create(session, name=name)
        typer.echo(f"organization: {organization.id}")
        typer.echo(f"api key (shown once, store it now): {key}")
    engine.dispose()


@app.command()
def bill(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Bill what is due at this ISO-8601 instant (default: now).")
    ] = None,
) -> None:
    """Bill every subscription invoice due (catching up missed periods) and print a summary."""
    from datetime import UTC, datetime

    from billow.billing.run import bill_due
    from billow.db import make_engine, make_sessionmaker

    if as_of is None:
        instant = datetime.now(UTC)
    else:
        try:
            instant = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError as error:
            raise typer.BadParameter(f"not an ISO-8601 instant: {as_of}", param_hint="--as-of") from error
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
    url = _prepare_database()
    engine = make_engine(url)
    try:
        summary = bill_due(make_sessionmaker(engine), instant)
    finally:
        engine.dispose()
    typer.echo(str(summary))
    for failure in summary.failed:
        typer.echo(f"failed: {failure}", err=True)
    if summary.failed:
        raise typer.Exit(code=1)


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


def _bootstrap_key(raw_key: str, name: str) -> None:
    from billow.db import make_engine, make_sessionmaker
    from billow.organizations.service import organization_service

    engine = make_engine(get_settings().resolved_database_url)
    with make_sessionmaker(engine).begin() as session:
        _, created = organization_service.ensure_for_key(session, raw_key=raw_key, name=name)
    engine.dispose()
    if created:
        typer.echo(f"created organization {name!r} for BILLOW_API_KEY", err=True)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
