"""``billow members ...`` and the printing of bootstrap administrators (wired into :mod:`billow.cli`,
which gives the database session: this layer does not import the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from billow.errors import BillowError

#: A session in a transaction committed at the end of the block (``billow.cli``'s).
Transaction = Callable[[], AbstractContextManager["Session"]]


def echo_new_admins(session: Session, dashboard_url: str) -> None:
    """Create an admin for every organization without members, and print their credentials once (a
    second run finds members everywhere and prints nothing)."""
    from billow.access.service import access_service
    from billow.config import get_settings

    settings = get_settings()
    for admin in access_service.bootstrap_admins(
        session, email=settings.admin_email, password=settings.admin_password
    ):
        typer.echo(f"dashboard admin of organization {admin.organization.name!r}: {dashboard_url}")
        typer.echo(f"  e-mail: {admin.email}")
        if settings.admin_password:
            typer.echo("  password: BILLOW_ADMIN_PASSWORD")
        else:
            typer.echo(f"  password (shown once, store it now): {admin.password}")


def bootstrap_admins(url: str, dashboard_url: str) -> None:
    """:func:`echo_new_admins` on the database at ``url`` (``billow serve``)."""
    from billow.db import make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            echo_new_admins(session, dashboard_url)
    finally:
        engine.dispose()


def _errors(error: BillowError) -> str:
    details = error.error_details if isinstance(error.error_details, dict) else {}
    return "; ".join(f"{field}: {', '.join(map(str, codes))}" for field, codes in details.items()) or str(
        error.code
    )


def members_app(transaction: Transaction) -> typer.Typer:
    app = typer.Typer(help="Manage dashboard members (create, reset-password).", no_args_is_help=True)

    @app.command("create")
    def create(
        organization: Annotated[str, typer.Option(help="Organization id or name.")],
        email: Annotated[str, typer.Option(help="The member's e-mail.")],
        role: Annotated[
            str, typer.Option(help="admin, manager, finance, viewer or a custom role's code.")
        ] = ("viewer"),
    ) -> None:
        """Create a member with a random password (printed once)."""
        from billow.access.passwords import new_password
        from billow.access.service import access_service
        from billow.errors import BillowError
        from billow.organizations.service import LookupFailed, organization_service

        password = new_password()
        try:
            with transaction() as session:
                owner = organization_service.resolve(session, organization)
                member = access_service.create_member(
                    session, owner.id, email=email, role=role, password=password
                )
                typer.echo(f"member: {member.id} ({member.email}, {member.role}) of {owner.name!r}")
                typer.echo(f"password (shown once, store it now): {password}")
        except (LookupFailed, BillowError) as error:
            message = _errors(error) if isinstance(error, BillowError) else str(error)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(code=1) from None

    @app.command("reset-password")
    def reset_password(
        organization: Annotated[str, typer.Option(help="Organization id or name.")],
        email: Annotated[str, typer.Option(help="The member's e-mail.")],
    ) -> None:
        """Give a member a new random password (printed once); their sessions end."""
        from billow.access.service import access_service
        from billow.organizations.service import LookupFailed, organization_service

        try:
            with transaction() as session:
                owner = organization_service.resolve(session, organization)
                member = access_service.find_member(session, owner.id, email)
                if member is None:
                    raise LookupFailed(f"no member of {owner.name!r} has the e-mail {email}")
                password = access_service.reset_password(session, member)
                typer.echo(f"new password of {member.email} (shown once, store it now): {password}")
        except LookupFailed as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=1) from None

    return app
