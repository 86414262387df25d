"""Settings, read from the environment (prefix ``BILLOW_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The per-user data directory, independent of the working directory: ``$XDG_DATA_HOME/billow``
    (``~/.local/share/billow``) on Linux, ``~/Library/Application Support/billow`` on macOS,
    ``%LOCALAPPDATA%\\billow`` on Windows."""
    return Path(user_data_dir("billow", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLOW_", extra="ignore")

    #: Any SQLAlchemy URL. Empty means the embedded SQLite database in ``data_dir``.
    database_url: str | None = None
    #: Where the embedded database lives when ``database_url`` is not set.
    data_dir: Path = Field(default_factory=default_data_dir)
    #: At ``serve`` time, make sure an organization owning this key exists (first-run bootstrap, tests).
    api_key: str | None = None
    #: Name given to the organization created for ``api_key``.
    organization_name: str = "Default"
    #: The first dashboard administrator of an organization without members (``serve``, ``organizations
    #: create``): this e-mail (default ``admin@<organization slug>.local``) and password (default: random,
    #: printed once).
    admin_email: str | None = None
    admin_password: str | None = None
    #: The dashboard's session cookie is ``Secure`` unless this is false or the request is plain
    #: ``http://localhost`` / ``http://127.0.0.1`` (a reverse proxy terminating TLS keeps it true).
    cookie_secure: bool = True
    #: ``development`` accepts a ``BILLOW_API_KEY`` too short to be secret (with a warning);
    #: ``production`` refuses it. Unset: development on SQLite, production on PostgreSQL.
    env: Literal["development", "production"] | None = None
    #: The key(s) sealing secrets at rest (:mod:`billow.kit.secrets`): Fernet keys, comma-separated, the
    #: first seals, all open (rotation). Unset: a key generated once into ``data_dir/secret.key``
    #: (refused in ``production``: every process must share the key).
    secret_key: str | None = None
    #: Largest request body accepted, in bytes (413 beyond).
    max_body_bytes: int = 5 * 1024 * 1024
    #: Most events accepted by one ``POST /events/batch`` (Lago: 100; 422 ``too_many_events`` beyond).
    max_batch_events: int = 1000
    #: Bill the periods of a backdated subscription that fell due before it was created (Lago does not;
    #: an organization's ``billing_configuration.bill_backdated_periods`` overrides this default).
    bill_backdated_periods: bool = False
    #: The backdating horizon: ``subscription_at`` at most this many days before the request (422
    #: ``value_is_out_of_range`` beyond). 10 years by default: room for a migration replaying a long
    #: contract, while the catch-up one request can cause stays bounded (120 monthly, 522 weekly, 3,653
    #: daily periods, billed ``max_periods_per_run`` at a time).
    max_backdate_days: int = Field(default=3653, ge=1)
    #: The most periods of one subscription a billing run bills (oldest first); the rest waits for the next
    #: run, so one subscription's catch-up never holds up the others.
    max_periods_per_run: int = Field(default=100, ge=1)
    #: Where the work that follows an API call runs once it commits (:mod:`billow.worker.dispatch`):
    #: ``thread``, ``sync`` or ``off``; and the threads of ``thread`` mode.
    dispatch: str = "thread"
    dispatch_threads: int = Field(default=2, ge=1)
    #: Seconds an ingestion's subscription alert evaluations are collected per process before one task
    #: evaluates them (:mod:`billow.billing.immediate`; Lago processes its activities every 60 s); 0: one
    #: task per ingestion request.
    alerts_window: float = Field(default=10.0, ge=0)
    #: How ``billow serve`` runs the periodic scans: ``auto``, ``inprocess`` or ``off``
    #: (:func:`billow.worker.inprocess.scheduler_plan`).
    scheduler: str = "auto"
    #: Seconds between two runs of every scan, overriding each scan's own interval (tests, demos).
    scan_interval: float | None = Field(default=None, gt=0)
    #: Seconds between two attempts of a ``billow serve`` to become the scans' leader (PostgreSQL).
    leader_retry: float | None = Field(default=None, gt=0)
    #: Level of Billow's own log lines and of uvicorn's (``debug``, ``info``, ``warning``...).
    log_level: str = "info"
    #: ``text`` (people) or ``json`` (one object per line, with the request id: :mod:`billow.kit.logs`).
    #: Unset: text in development, json in production (``BILLOW_ENV``).
    log_format: Literal["text", "json"] | None = None
    #: A bearer token ``GET /metrics`` then requires (``Authorization: Bearer <token>``). Unset: open.
    metrics_token: str | None = None
    #: Answer usage queries from usage rollups on PostgreSQL (:mod:`billow.metering.rollups`); off
    #: (``0``, ``false``, ``off``, ``no``): always the plain aggregation.
    usage_rollups: bool = True
    #: A database error in the usage-rollup path: ``fallback`` logs it and answers with the plain
    #: aggregation; ``raise`` raises it (the tests).
    rollup_errors: Literal["fallback", "raise"] = "fallback"

    #: Subscriptions per billing job of the billing scan (:mod:`billow.billing.tasks`, a few seconds of work
    #: each). Each job has a fixed cost (its scan of pending work, catalog loads, the first batch-pricing
    #: chunk, the job's fetch and finish: ~0.1-0.2 s); 500 rather than 100 measured ~10-30 % faster for
    #: one worker on 10,000 subscriptions (docs/decisions/0004), and still 32 jobs to share between
    #: workers at that size.
    billing_batch_size: int = Field(default=500, ge=1)
    #: The billing run's lock statement loads only the subscription and customer columns an invoice reads
    #: (:mod:`billow.billing.locks`); with this on, reading another one while writing the invoice raises
    #: instead of costing one more query (the tests of ``tests/billing``).
    strict_invoice_columns: bool = False

    #: The URL this Billow is reached at (Lago's ``LAGO_API_URL``): the ``iss`` of ``jwt`` webhook
    #: signatures and the base of links Billow hands out.
    public_url: str = "http://localhost:3000"
    #: Webhook delivery (:mod:`billow.webhooks.delivery`): attempts per webhook before it is ``failed``;
    #: the wait after the n-th failed attempt, ``backoff * 2**(n-1)`` seconds capped at ``backoff_cap``
    #: (defaults: 10 s doubling to an hour, 16 attempts: about 7.4 hours of retries); the timeout of one
    #: attempt (Lago: 30 s).
    webhook_max_attempts: int = Field(default=16, ge=1)
    webhook_backoff: float = Field(default=10.0, gt=0)
    webhook_backoff_cap: float = Field(default=3600.0, gt=0)
    webhook_timeout: float = Field(default=10.0, gt=0)
    #: How long an endpoint's deliverer holds it without renewing its lease (renewed before each webhook;
    #: longer than ``webhook_timeout``): a deliverer that died hands over after at most this.
    webhook_lease: float = Field(default=60.0, gt=0)
    #: Integration jobs (:mod:`billow.integrations.jobs`): attempts of a provider call before the job is
    #: ``failed``, the wait after the n-th failed attempt ``backoff * 2**(n-1)`` seconds capped at
    #: ``backoff_cap`` (defaults: 10 s doubling to an hour, 10 attempts), the timeout of one call, and how
    #: long a runner holds a job (longer than the timeout).
    integration_max_attempts: int = Field(default=10, ge=1)
    integration_backoff: float = Field(default=10.0, gt=0)
    integration_backoff_cap: float = Field(default=3600.0, gt=0)
    integration_timeout: float = Field(default=30.0, gt=0)
    integration_lease: float = Field(default=120.0, gt=0)
    #: The SMTP server of invoice and credit-note e-mails (:mod:`billow.mail`). Unset: e-mails are disabled
    #: (their deliveries are recorded ``skipped``, never an error).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    #: ``starttls`` (port 587), ``ssl`` (implicit TLS, port 465) or ``none`` (a local relay).
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    #: The sender address (``From``; the organization's e-mail is the ``Reply-To``).
    smtp_from: str = "billing@localhost"
    #: Seconds an SMTP connection or command may take.
    smtp_timeout: float = Field(default=30.0, gt=0)
    #: Where invoice and credit-note documents are stored (:mod:`billow.documents.storage`): ``local``
    #: (``documents_dir``, default ``data_dir/documents``) or ``s3`` (any S3-compatible service; ``pip
    #: install billow[s3]``).
    documents_storage: Literal["local", "s3"] = "local"
    #: Render the documents of invoices and credit notes once they are finalized (the after-commit task
    #: and its scan); off: only when downloaded (``POST /invoices/{id}/download``). The test suite turns
    #: it off outside ``tests/documents`` (a PDF costs ~0.1-0.3 s).
    generate_documents: bool = True
    documents_dir: Path | None = None
    #: Seconds a document link stays valid (signed local links, S3 presigned URLs).
    documents_url_ttl: int = Field(default=7 * 24 * 3600, ge=60, le=7 * 24 * 3600)
    #: Hours a customer portal link (``GET /customers/{id}/portal_url``, :mod:`billow.portal`) stays valid.
    portal_link_ttl_hours: int = Field(default=24, ge=1, le=24 * 31)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    #: Days the audit log keeps its rows (:mod:`billow.audit`, scan ``audit.prune``): activity logs
    #: (``BILLOW_AUDIT_RETENTION_DAYS``) and API logs (``BILLOW_AUDIT_API_LOG_RETENTION_DAYS``).
    audit_retention_days: int = Field(default=365, ge=1)
    audit_api_log_retention_days: int = Field(default=30, ge=1)

    @field_validator("usage_rollups", mode="before")
    @classmethod
    def _rollups_switch(cls, value: object) -> object:
        # As the former environment read: only these spellings switch rollups off, anything else is on.
        if isinstance(value, str):
            return value.lower() not in ("0", "false", "off", "no")
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def resolved_documents_dir(self) -> Path:
        """``documents_dir``, else ``data_dir/documents``."""
        return (self.documents_dir or self.data_dir / "documents").expanduser().resolve()

    @property
    def embedded_database_path(self) -> Path:
        """The embedded SQLite file (meaningful when ``database_url`` is not set)."""
        return self.data_dir / "billow.db"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.embedded_database_path}"

    @property
    def is_embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_log_format(self) -> str:
        """``BILLOW_LOG_FORMAT``, else text in development and json in production."""
        if self.log_format is not None:
            return self.log_format
        return "text" if self.is_development else "json"

    @property
    def is_development(self) -> bool:
        """``BILLOW_ENV``, else whether the database is SQLite (the embedded, single-machine database)."""
        if self.env is not None:
            return self.env == "development"
        return self.is_embedded


def current_settings() -> Settings:
    """The settings as the environment says now (not cached: for switches read at the moment they act,
    which tests and ``billow serve`` processes set per process)."""
    return Settings()


def redacted_url(url: str) -> str:
    """A database URL as printed: its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def normalize_database_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` spellings and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def bill_backdated_default() -> bool:
    """``BILLOW_BILL_BACKDATED_PERIODS``: the default of organizations that have not chosen."""
    return get_settings().bill_backdated_periods


def max_backdate_days() -> int:
    """``BILLOW_MAX_BACKDATE_DAYS``: how far in the past a subscription may start."""
    return get_settings().max_backdate_days


@lru_cache
def get_settings() -> Settings:
    return Settings()
