"""``billow organizations list|delete`` and ``billow api-keys create|list|revoke`` on both databases, and
the ``BILLOW_API_KEY`` bootstrap of ``billow serve``: short keys refused outside development, a key that
opens a new organization while others exist announced, a revoked key refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from billow import cli
from billow.auth import digest_key
from billow.config import Settings
from billow.models.customers import Customer
from billow.models.organizations import ApiKey, Organization
from billow.organizations.service import organization_service
from tests.fixtures import factories as f


def make_org(factory: sessionmaker[Session], name: str) -> tuple[uuid.UUID, str]:
    with factory.begin() as session:
        organization, raw_key = organization_service.create(session, name=name)
        return organization.id, raw_key


def authenticates(factory: sessionmaker[Session], raw_key: str) -> uuid.UUID | None:
    with factory() as session:
        organization = organization_service.authenticate(session, raw_key)
        return organization.id if organization is not None else None


def issued_key(output: str) -> str:
    [raw_key] = re.findall(r"^api key \(shown once, store it now\): (\S+)$", output, flags=re.MULTILINE)
    return raw_key


class TestOrganizationsList:
    def test_lists_ids_names_active_keys_and_customers(self, billow, factory) -> None:
        acme, _ = make_org(factory, "Acme")
        globex, _ = make_org(factory, "Globex")
        with factory.begin() as session:
            org = session.get(Organization, acme)
            f.customer(session, org, external_id="c1")
            f.customer(session, org, external_id="c2")
            organization_service.create_key(session, org, "ci")
        result = billow("organizations", "list")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["ID", "NAME", "CREATED_AT", "ACTIVE_KEYS", "CUSTOMERS"]
        assert [line.split()[:2] + line.split()[3:] for line in lines[1:]] == [
            [str(acme), "Acme", "2", "2"],
            [str(globex), "Globex", "1", "0"],
        ]

    def test_empty(self, billow, factory) -> None:
        result = billow("organizations", "list")
        assert result.exit_code == 0
        assert result.stdout == ""
        assert "no organizations" in result.stderr


class TestApiKeysCreate:
    def test_by_name_prints_the_key_once_and_stores_its_digest(self, billow, factory) -> None:
        acme, first_key = make_org(factory, "Acme")
        result = billow("api-keys", "create", "--organization", "Acme", "--name", "ci")
        assert result.exit_code == 0, result.output
        raw_key = issued_key(result.stdout)
        assert re.fullmatch(r"blw_[A-Za-z0-9_-]{43}", raw_key)
        assert f"organization: {acme} (Acme)" in result.stdout
        assert authenticates(factory, raw_key) == acme
        assert authenticates(factory, first_key) == acme
        with factory() as session:
            key = session.scalars(select(ApiKey).where(ApiKey.value_digest == digest_key(raw_key))).one()
            assert (key.name, key.prefix) == ("ci", raw_key[:8])
        assert f"api key id: {key.id}" in result.stdout

    def test_by_id(self, billow, factory) -> None:
        acme, _ = make_org(factory, "Acme")
        result = billow("api-keys", "create", "--organization", str(acme))
        assert result.exit_code == 0, result.output
        assert authenticates(factory, issued_key(result.stdout)) == acme

    def test_unknown_or_ambiguous_organization(self, billow, factory) -> None:
        first, _ = make_org(factory, "Twin")
        second, _ = make_org(factory, "Twin")
        unknown = billow("api-keys", "create", "--organization", "Nobody")
        assert unknown.exit_code == 1
        assert "no organization is named 'Nobody'" in unknown.stderr
        missing = billow("api-keys", "create", "--organization", str(uuid.uuid4()))
        assert missing.exit_code == 1 and "no organization has the id" in missing.stderr
        ambiguous = billow("api-keys", "create", "--organization", "Twin")
        assert ambiguous.exit_code == 1
        assert f"2 organizations are named 'Twin': give an id ({first}, {second})" in ambiguous.stderr
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(ApiKey)) == 2


class TestApiKeysList:
    def test_lists_keys_never_their_secret(self, billow, factory) -> None:
        acme, acme_key = make_org(factory, "Acme")
        globex, _ = make_org(factory, "Globex")
        with factory.begin() as session:
            organization_service.add_key(session, session.get(Organization, acme), "dev_key")
        created = billow("api-keys", "create", "--organization", "Acme", "--name", "ci")
        ci_key = issued_key(created.stdout)
        result = billow("api-keys", "list")
        assert result.exit_code == 0, result.output
        assert "dev_key" not in result.stdout
        assert acme_key not in result.stdout and ci_key not in result.stdout
        lines = result.stdout.splitlines()
        assert lines[0].split() == [
            "ID",
            "ORGANIZATION_ID",
            "ORGANIZATION",
            "NAME",
            "PREFIX",
            "CREATED_AT",
            "REVOKED_AT",
        ]
        rows = [line.split() for line in lines[1:]]
        assert [(r[1], r[2], r[3], r[4], r[6]) for r in rows] == [
            (str(acme), "Acme", "-", acme_key[:8] + "...", "-"),
            (str(acme), "Acme", "-", "-", "-"),
            (str(acme), "Acme", "ci", ci_key[:8] + "...", "-"),
            (str(globex), "Globex", "-", rows[3][4], "-"),
        ]
        only = billow("api-keys", "list", "--organization", "Globex")
        assert [line.split()[1] for line in only.stdout.splitlines()[1:]] == [str(globex)]


class TestApiKeysRevoke:
    def test_revoked_key_no_longer_authenticates(self, billow, factory) -> None:
        acme, first_key = make_org(factory, "Acme")
        created = billow("api-keys", "create", "--organization", "Acme")
        second_key = issued_key(created.stdout)
        with factory() as session:
            key_id = session.scalars(
                select(ApiKey.id).where(ApiKey.value_digest == digest_key(first_key))
            ).one()
        result = billow("api-keys", "revoke", str(key_id))
        assert result.exit_code == 0, result.output
        assert f"revoked API key {key_id} of organization {acme}" in result.stdout
        assert "no active API key left" not in result.stderr
        assert authenticates(factory, first_key) is None
        assert authenticates(factory, second_key) == acme
        listed = billow("api-keys", "list").stdout
        [line] = [line for line in listed.splitlines() if line.startswith(str(key_id))]
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", line)

        again = billow("api-keys", "revoke", str(key_id))
        assert again.exit_code == 0
        assert f"API key {key_id} was already revoked at " in again.stdout

    def test_warns_when_the_organization_has_no_active_key_left(self, billow, factory) -> None:
        acme, _ = make_org(factory, "Acme")
        with factory() as session:
            key_id = session.scalars(select(ApiKey.id)).one()
        result = billow("api-keys", "revoke", str(key_id))
        assert result.exit_code == 0
        assert f"organization {acme} has no active API key left" in result.stderr
        assert f"billow api-keys create --organization {acme}" in result.stderr

    @pytest.mark.parametrize("key_id", ["nope", str(uuid.UUID(int=7))])
    def test_unknown_key(self, billow, factory, key_id: str) -> None:
        result = billow("api-keys", "revoke", key_id)
        assert result.exit_code == 1
        assert f"no API key has the id {key_id}" in result.stderr


class TestOrganizationsDelete:
    def test_refused_without_yes_then_deleted(self, billow, factory) -> None:
        acme, acme_key = make_org(factory, "Acme")
        globex, globex_key = make_org(factory, "Globex")
        with factory.begin() as session:
            for org_id in (acme, globex):
                org = session.get(Organization, org_id)
                metric = f.metric(session, org, "sum_agg", code="calls")
                plan = f.plan(session, org, amount_cents=1000, interval="monthly")
                f.charge(session, org, plan, metric, "standard", {"amount": "1"})
                customer = f.customer(session, org, external_id="cus_1")
                f.subscription(session, org, customer, plan, started_at=f.at("2024-01-15"))
                f.event(session, org, "calls", "2024-01-20T00:00:00", {"value": 3})
        refused = billow("organizations", "delete", str(acme))
        assert refused.exit_code == 1
        assert f"organization {acme} ('Acme') and everything it owns would be deleted:" in refused.stdout
        for line in ("api_keys: 1", "billable_metrics: 1", "charges: 1", "customers: 1", "events: 1"):
            assert f"  {line}\n" in refused.stdout
        assert "run again with --yes" in refused.stderr
        assert authenticates(factory, acme_key) == acme

        result = billow("organizations", "delete", str(acme), "--yes")
        assert result.exit_code == 0, result.output
        assert f"deleted organization {acme} ('Acme'):" in result.stdout
        assert "  subscriptions: 1\n" in result.stdout
        with factory() as session:
            assert session.get(Organization, acme) is None
            assert session.scalars(select(Customer.organization_id)).all() == [globex]
        assert authenticates(factory, acme_key) is None
        assert authenticates(factory, globex_key) == globex

    def test_needs_an_id(self, billow, factory) -> None:
        make_org(factory, "Acme")
        by_name = billow("organizations", "delete", "Acme", "--yes")
        assert by_name.exit_code == 1
        assert "'Acme' is not an organization id" in by_name.stderr
        missing = billow("organizations", "delete", str(uuid.uuid4()), "--yes")
        assert missing.exit_code == 1 and "no organization has the id" in missing.stderr
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Organization)) == 1


LONG_KEY = "k" * 32


@pytest.fixture
def bootstrap(engine: Engine, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """``billow serve``'s handling of BILLOW_API_KEY on the test database: (exit code, stderr)."""
    url = engine.url.render_as_string(hide_password=False)

    def run(raw_key: str, name: str = "Default", **settings: Any) -> tuple[int, str]:
        code = 0
        try:
            cli._check_bootstrap_key(raw_key, Settings(database_url=url, **settings))
            cli._bootstrap_key(url, raw_key, name)
        except typer.Exit as exit_:
            code = exit_.exit_code
        return code, capsys.readouterr().err

    return run


class TestBootstrapKey:
    def test_opens_an_organization_once_and_stores_no_part_of_a_chosen_key(
        self, bootstrap, factory, engine: Engine
    ) -> None:
        code, err = bootstrap(LONG_KEY, "Acme")
        assert (code, err) == (0, "created organization 'Acme' for BILLOW_API_KEY\n")
        assert bootstrap(LONG_KEY, "Acme") == (0, "")
        with factory() as session:
            [key] = session.scalars(select(ApiKey)).all()
            assert key.prefix == ""
            assert session.scalar(select(func.count()).select_from(Organization)) == 1

    def test_a_short_key_is_refused_outside_development(self, bootstrap, factory, engine: Engine) -> None:
        production = {"env": "production"} if engine.dialect.name == "sqlite" else {}
        code, err = bootstrap("dev_key", **production)
        assert code == 2
        assert "BILLOW_API_KEY is 7 characters long" in err
        assert "accepted only in development" in err
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Organization)) == 0

    def test_a_short_key_is_accepted_in_development_with_a_warning(
        self, bootstrap, factory, engine: Engine
    ) -> None:
        development = {"env": "development"} if engine.dialect.name == "postgresql" else {}
        code, err = bootstrap("dev_key", **development)
        assert code == 0
        assert "WARNING: BILLOW_API_KEY is 7 characters long, short enough to be guessed" in err
        with factory() as session:
            [key] = session.scalars(select(ApiKey)).all()
            assert key.prefix == ""  # formerly the whole key
        assert authenticates(factory, "dev_key") is not None

    def test_warns_when_a_new_key_opens_a_new_organization_beside_others(self, bootstrap, factory) -> None:
        make_org(factory, "Acme")
        make_org(factory, "Globex")
        code, err = bootstrap(LONG_KEY, "Default")
        assert code == 0
        assert "WARNING: BILLOW_API_KEY does not match any key of the 2 existing organization(s)" in err
        assert "use `billow api-keys create --organization ...`" in err
        assert "created organization 'Default' for BILLOW_API_KEY" in err

    def test_a_revoked_key_is_refused(self, bootstrap, factory) -> None:
        assert bootstrap(LONG_KEY)[0] == 0
        with factory.begin() as session:
            [key] = session.scalars(select(ApiKey)).all()
            organization_service.revoke_key(session, str(key.id))
        code, err = bootstrap(LONG_KEY)
        assert code == 2
        assert f"BILLOW_API_KEY cannot be used: this key ({key.id}) was revoked at " in err
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Organization)) == 1
