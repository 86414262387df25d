from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table
from sqlalchemy.orm import Session

from billow.auth import digest_key
from billow.config import bill_backdated_default
from billow.errors import Errors, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.ids import parse_uuid
from billow.kit.time import is_timezone
from billow.models.organizations import ApiKey, Organization
from billow.organizations.repository import organization_repository as repository
from billow.organizations.schemas import OrganizationUpdate

logger = logging.getLogger("billow.organizations")

KEY_PREFIX = "blw_"
#: A key Billow issued: ``blw_`` and 43 URL-safe characters (256 random bits).
_ISSUED_KEY = re.compile(r"blw_[A-Za-z0-9_-]{43}")
#: Characters of an issued key's token kept to tell keys apart (24 of its 256 bits).
DISPLAY_CHARACTERS = 4
#: Shortest ``BILLOW_API_KEY`` accepted outside development: shorter keys are guessable.
MIN_BOOTSTRAP_KEY_LENGTH = 32
#: ``last_used_at`` is refreshed at most this often per key.
KEY_USE_RESOLUTION_SECONDS = 60


def generate_key() -> str:
    """A new API key: 256 bits from the OS's CSPRNG."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def display_prefix(raw_key: str) -> str:
    """What is stored of a key besides its digest, to tell keys apart in listings: ``blw_`` and the first
    4 characters of the token of a key Billow issued; nothing ("") of any other key (a key chosen by the
    operator may be short or low in entropy: any part of it would be a part of the secret)."""
    if _ISSUED_KEY.fullmatch(raw_key):
        return raw_key[: len(KEY_PREFIX) + DISPLAY_CHARACTERS]
    return ""


def bootstrap_key_problem(raw_key: str, *, development: bool) -> str | None:
    """Why ``BILLOW_API_KEY`` cannot be used (``None``: it can). A key shorter than
    :data:`MIN_BOOTSTRAP_KEY_LENGTH` is refused outside development (see ``Settings.is_development``)."""
    if len(raw_key) >= MIN_BOOTSTRAP_KEY_LENGTH or development:
        return None
    return (
        f"BILLOW_API_KEY is {len(raw_key)} characters long: a key shorter than {MIN_BOOTSTRAP_KEY_LENGTH} "
        "characters can be guessed, and is accepted only in development (BILLOW_ENV=development, or the "
        "embedded SQLite database). Use a key issued by `billow organizations create` or `billow api-keys "
        "create`, or at least 32 random characters (e.g. `python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'`)."
    )


class KeyRevoked(Exception):
    """``BILLOW_API_KEY`` names a revoked key: it can neither open its organization nor a new one."""

    def __init__(self, key: ApiKey):
        ended = key.revoked_at or key.expires_at
        verb = "was revoked" if key.revoked_at else "expired"
        super().__init__(f"this key ({key.id}) {verb} at {ended:%Y-%m-%dT%H:%M:%SZ}")
        self.key = key


class LastLiveKey(Exception):
    """The organization's last live key cannot be revoked from the dashboard (it would lock the API out)."""


class LookupFailed(Exception):
    """An organization or key named on the command line does not exist, or the name is ambiguous."""


@dataclass(frozen=True)
class Bootstrap:
    organization: Organization
    created: bool
    #: Organizations that existed before (when ``created``).
    others: int = 0


def default_document_prefix(organization: Organization) -> str:
    letters = "".join(ch for ch in organization.name if ch.isalnum())[:3].upper() or "ORG"
    return f"{letters}-{organization.id.hex[-4:].upper()}"


def bill_backdated_periods(organization: Organization) -> bool:
    """Whether the billing runs bill a backdated subscription's periods due before its creation: the
    organization's choice, else the server's ``BILLOW_BILL_BACKDATED_PERIODS`` (off: Lago's behaviour)."""
    if organization.bill_backdated_periods is not None:
        return organization.bill_backdated_periods
    return bill_backdated_default()


class OrganizationService:
    def create(self, session: Session, *, name: str, raw_key: str | None = None) -> tuple[Organization, str]:
        """Create an organization and an API key for it; the raw key is returned once, never stored."""
        organization = Organization(name=name)
        repository.add(session, organization)
        organization.document_number_prefix = default_document_prefix(organization)
        raw_key = raw_key or generate_key()
        self.add_key(session, organization, raw_key)
        return organization, raw_key

    def add_key(
        self, session: Session, organization: Organization, raw_key: str, name: str | None = None
    ) -> ApiKey:
        return repository.add_key(
            session,
            ApiKey(
                organization_id=organization.id,
                value_digest=digest_key(raw_key),
                prefix=display_prefix(raw_key),
                name=name,
            ),
        )

    def create_key(
        self, session: Session, organization: Organization, name: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key for ``organization``; the raw key is returned once, never stored."""
        raw_key = generate_key()
        return self.add_key(session, organization, raw_key, name), raw_key

    def ensure_for_key(self, session: Session, *, raw_key: str, name: str) -> Bootstrap:
        """The organization owning ``raw_key``, created if no organization owns it (``others``: how many
        organizations existed then). Raises :class:`KeyRevoked` for a revoked key."""
        existing = self.authenticate(session, raw_key)
        if existing is not None:
            return Bootstrap(existing, created=False)
        revoked = repository.key_by_digest(session, digest_key(raw_key))
        if revoked is not None:
            raise KeyRevoked(revoked)
        others = repository.count(session)
        organization, _ = self.create(session, name=name, raw_key=raw_key)
        return Bootstrap(organization, created=True, others=others)

    # -- command-line management ----------------------------------------------------------------------

    def resolve(self, session: Session, id_or_name: str) -> Organization:
        """The organization of this id, or else of this (unique) name."""
        organization_id = parse_uuid(id_or_name)
        if organization_id is not None:
            organization = repository.get(session, organization_id)
            if organization is None:
                raise LookupFailed(f"no organization has the id {id_or_name}")
            return organization
        named = repository.by_name(session, id_or_name)
        if not named:
            raise LookupFailed(f"no organization is named {id_or_name!r} (`billow organizations list`)")
        if len(named) > 1:
            ids = ", ".join(str(o.id) for o in named)
            raise LookupFailed(f"{len(named)} organizations are named {id_or_name!r}: give an id ({ids})")
        return named[0]

    def listing(self, session: Session) -> list[tuple[Organization, int, int]]:
        """Every organization with its numbers of active API keys and of customers."""
        return [(row[0], row[1], row[2]) for row in repository.listing(session)]

    def keys(self, session: Session, organization: Organization | None = None) -> list[tuple[ApiKey, str]]:
        """API keys (revoked ones included) and their organization's name."""
        rows = repository.keys(session, organization.id if organization is not None else None)
        return [(row[0], row[1]) for row in rows]

    def revoke_key(self, session: Session, key_id: str) -> tuple[ApiKey, bool, int]:
        """Revoke a key: it answers 401 from the next request on. Returns the key, whether it was already
        revoked, and how many active keys its organization has left."""
        key_uuid = parse_uuid(key_id)
        key = repository.get_key(session, key_uuid) if key_uuid is not None else None
        if key is None:
            raise LookupFailed(f"no API key has the id {key_id} (`billow api-keys list`)")
        already = key.revoked_at is not None
        if not already:
            repository.revoke_key(session, key, datetime.now(UTC))
            logger.warning("API key %s of organization %s revoked", key.id, key.organization_id)
        return key, already, repository.active_key_count(session, key.organization_id)

    # -- the dashboard's API keys page --------------------------------------------------------------

    def organization_keys(self, session: Session, organization_id: uuid.UUID) -> list[ApiKey]:
        return list(repository.organization_keys(session, organization_id))

    def rotate_key(
        self, session: Session, organization: Organization, key_id: uuid.UUID, expires_in_hours: int
    ) -> tuple[ApiKey, str]:
        """A new key with the old one's name; the old one keeps working for ``expires_in_hours`` (0: it
        is revoked now). Raises :class:`LookupFailed` for a key not of ``organization`` or not live."""
        old = repository.organization_key(session, organization.id, key_id)
        now = datetime.now(UTC)
        if (
            old is None
            or old.revoked_at is not None
            or (old.expires_at is not None and old.expires_at <= now)
        ):
            raise LookupFailed(f"no live API key has the id {key_id}")
        new, raw_key = self.create_key(session, organization, old.name)
        if expires_in_hours <= 0:
            repository.revoke_key(session, old, now)
        else:
            ends = now + timedelta(hours=expires_in_hours)
            old.expires_at = min(old.expires_at, ends) if old.expires_at else ends
            session.flush()
        logger.warning("API key %s of organization %s rotated to %s", old.id, organization.id, new.id)
        return new, raw_key

    def revoke_organization_key(
        self, session: Session, organization: Organization, key_id: uuid.UUID
    ) -> ApiKey:
        """Revoke one of ``organization``'s keys, unless it is its last live one (:class:`LastLiveKey`)."""
        key = repository.organization_key(session, organization.id, key_id)
        if key is None:
            raise LookupFailed(f"no API key has the id {key_id}")
        if key.revoked_at is None:
            if repository.active_key_count(session, organization.id) <= 1 and self._is_live(key):
                raise LastLiveKey(str(key_id))
            repository.revoke_key(session, key, datetime.now(UTC))
            logger.warning("API key %s of organization %s revoked", key.id, key.organization_id)
        return key

    @staticmethod
    def _is_live(key: ApiKey) -> bool:
        return key.revoked_at is None and (key.expires_at is None or key.expires_at > datetime.now(UTC))

    def touch_key(self, session: Session, key_id: uuid.UUID) -> bool:
        """Record that the key was just used: one UPDATE, which changes nothing if another request did
        within the minute."""
        return repository.touch_key(session, key_id, datetime.now(UTC), KEY_USE_RESOLUTION_SECONDS)

    def owned_rows(self, session: Session, organization: Organization) -> dict[str, int]:
        """How many rows of each table the organization owns (tables with none left out)."""
        counts = repository.count_owned(session, _owned_tables(), organization.id)
        return {name: count for name, count in counts.items() if count}

    def delete(self, session: Session, organization: Organization) -> dict[str, int]:
        """Delete the organization and every row it owns; returns the rows deleted per table.

        The rows go table by table, children before parents, then the organization itself (whose
        foreign keys cascade: rows written meanwhile go too). The organization's row is locked first
        (PostgreSQL), so a concurrent request's inserts wait and then fail instead of outliving it."""
        locked = repository.get(session, organization.id, for_update=True)
        if locked is None:
            raise LookupFailed(f"no organization has the id {organization.id}")
        deleted: dict[str, int] = {}
        for table in _owned_tables():
            count = repository.delete_owned(session, table, organization.id)
            if count:
                deleted[table.name] = count
        repository.delete(session, locked)
        logger.warning("organization %s (%s) deleted: %s", organization.id, organization.name, deleted)
        return deleted

    def authenticate(self, session: Session, raw_key: str) -> Organization | None:
        return repository.by_key_digest(session, digest_key(raw_key))

    def authenticate_key(self, session: Session, raw_key: str) -> tuple[uuid.UUID, Organization, bool] | None:
        """The live key's id, its organization and whether its ``last_used_at`` is due for a refresh
        (:meth:`touch_key`; at most once a minute), or ``None``."""
        found = repository.key_and_organization(session, digest_key(raw_key))
        if found is None:
            return None
        key_id, organization, last_used_at = found
        due = last_used_at is None or last_used_at < datetime.now(UTC) - timedelta(
            seconds=KEY_USE_RESOLUTION_SECONDS
        )
        return key_id, organization, due

    def rename(self, session: Session, organization: Organization, name: str) -> Organization:
        """A new display name (the dashboard's settings; Lago's API does not change it)."""
        name = name.strip()
        if not name:
            raise ValidationFailed.one("name", "value_is_mandatory")
        if len(name) > 255:
            raise ValidationFailed.one("name", "value_is_too_long")
        organization.name = name
        session.flush()
        return organization

    def update(self, session: Session, organization: Organization, data: OrganizationUpdate) -> Organization:
        errors = Errors()
        values = data.provided()
        if "default_currency" in values and not is_currency(values["default_currency"]):
            errors.add("default_currency", "value_is_invalid")
        if "timezone" in values and not is_timezone(values["timezone"]):
            errors.add("timezone", "invalid_timezone")
        if "country" in values and not (len(values["country"]) == 2 and values["country"].isalpha()):
            errors.add("country", "not_a_valid_country_code")
        from billow.customers.service import DOCUMENT_LOCALES

        billing_values = data.billing_configuration.provided() if data.billing_configuration else {}
        if billing_values.get("document_locale", "en") not in DOCUMENT_LOCALES:
            errors.add("document_locale", "not_a_valid_language_code")
        errors.raise_if_any()

        if values.get("webhook_url"):
            # Lago's organization-level webhook URL is one of the organization's webhook endpoints.
            from billow.webhook_endpoints.service import webhook_endpoint_service

            webhook_endpoint_service.ensure_url(session, organization, values["webhook_url"])
        billing = values.pop("billing_configuration", None)
        old_grace = organization.invoice_grace_period or 0
        if "country" in values:
            values["country"] = values["country"].upper()
        for key, value in values.items():
            setattr(organization, key, value)
        if billing is not None:
            for key, value in billing.provided().items():
                setattr(organization, key, value)
        session.flush()
        if (organization.invoice_grace_period or 0) != old_grace:
            # The drafts of customers without a grace period of their own move with it; those now due
            # are finalized right after the commit.
            from billow.invoices.grace import organization_grace_changed

            organization_grace_changed(session, organization, old_grace)
        return organization


def _owned_tables() -> list[Table]:
    """Every table with an ``organization_id``, in an order that deletes children before parents: the
    tables with a foreign key (reverse dependency order), then those without one (usage rollups and
    their journal, which the events trigger writes to when events are deleted)."""
    from billow.models import metadata

    tables = [t for t in reversed(metadata.sorted_tables) if "organization_id" in t.columns]
    with_fk = [t for t in tables if t.c.organization_id.foreign_keys]
    without_fk = [t for t in tables if not t.c.organization_id.foreign_keys]
    return [*with_fk, *without_fk]


organization_service = OrganizationService()
