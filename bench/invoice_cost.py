"""The cost of one invoice, A/B: bill N subscriptions of a database kept by ``bench/billing.py --keep``
in this process, with whichever ``billow`` is importable (``PYTHONPATH=<other checkout>/src`` for the
old code); print wall and CPU time per invoice, statements and commits per invoice, and a checksum of
every written invoice, fee, period, applied tax and counter (all columns but ids and timestamps), so two
code bases can be compared on the same data. The invoice tables are emptied first.

Usage::

    .venv/bin/python bench/invoice_cost.py DATABASE [N] [--statements] [--profile] [--dump FILE]
    git archive <commit> src | tar -x -C /tmp/old && PYTHONPATH=/tmp/old/src .venv/bin/python \
        bench/invoice_cost.py DATABASE [N]

The billed instant is the first of the current month (``bench/billing.py``'s default month); the server
is ``BILLOW_BENCH_DATABASE_URL``'s (default ``postgresql://postgres@127.0.0.1:5432``). ``--profile``:
``cProfile`` on CPU time. Run old and new interleaved, several times each: on a shared machine the wall
time mostly measures the wait for a CPU; CPU time and statement counts are steadier.
"""

import cProfile
import hashlib
import os
import pstats
import sys
import time
from collections import Counter
from datetime import UTC, datetime

os.environ.update(
    {"BILLOW_BILL_BACKDATED_PERIODS": "true", "BILLOW_SCHEDULER": "off", "BILLOW_LOG_LEVEL": "warning"}
)

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

import billow
from billow.billing.run import bill_subscriptions, due_subscription_ids
from billow.db import make_engine, make_sessionmaker

db = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else 2000
profile = "--profile" in sys.argv
server = os.environ.get("BILLOW_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
url = str(make_url(server.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=db))
today = datetime.now(UTC)
as_of = datetime(today.year, today.month, 1, tzinfo=UTC)

admin = create_engine(url)
with admin.begin() as c:
    c.execute(
        text("TRUNCATE applied_taxes, fees, invoice_subscriptions, invoices, invoice_sequences CASCADE")
    )
engine = make_engine(url)
factory = make_sessionmaker(engine)
ids = due_subscription_ids(factory, as_of)[:n]
stmts: Counter[str] = Counter()
tx = Counter()


@event.listens_for(engine, "before_cursor_execute")
def _count(_c, _cur, statement, *_a):
    stmts[" ".join(statement.split())[:100]] += 1


@event.listens_for(engine, "commit")
def _commit(_c):
    tx["commit"] += 1


@event.listens_for(engine, "rollback")
def _rb(_c):
    tx["rollback"] += 1


prof = cProfile.Profile(time.process_time) if profile else None
began, cpu = time.perf_counter(), time.process_time()
if prof:
    prof.enable()
summary = bill_subscriptions(factory, ids, as_of)
if prof:
    prof.disable()
wall, cpu = time.perf_counter() - began, time.process_time() - cpu
k = len(ids)
with admin.connect() as c:
    digest = hashlib.sha256()
    for q in (
        "SELECT i.customer_id, i.number, i.status, i.payment_status, i.issuing_date, i.payment_due_date,"
        " i.fees_amount_cents, i.taxes_amount_cents, i.sub_total_excluding_taxes_amount_cents,"
        " i.sub_total_including_taxes_amount_cents, i.total_amount_cents, i.sequential_id,"
        " i.organization_sequential_id, i.currency, i.version_number, i.invoice_type,"
        " i.net_payment_term, i.finalized_at, i.expected_finalization_date, i.coupons_amount_cents,"
        " i.credit_notes_amount_cents, i.prepaid_credit_amount_cents, i.total_paid_amount_cents,"
        " i.progressive_billing_credit_amount_cents, i.payment_overdue, i.voided_at,"
        " i.applied_usage_thresholds::text"
        " FROM invoices i ORDER BY i.customer_id",
        "SELECT f.subscription_id, f.charge_id, f.charge_filter_id, f.fee_type, f.grouped_by::text,"
        " f.units,"
        " f.total_aggregated_units, f.events_count, f.amount_cents, f.precise_amount_cents,"
        " f.amount_currency,"
        " f.unit_amount, f.taxes_amount_cents, f.taxes_precise_amount_cents, f.taxes_rate,"
        " f.amount_details::text, f.invoice_display_name, f.pay_in_advance, f.invoiceable, f.payment_status,"
        " f.from_datetime, f.to_datetime, f.succeeded_at, f.failed_at, f.refunded_at, f.deleted_at,"
        " f.event_transaction_id, f.true_up_parent_fee_id IS NULL, f.organization_id, f.customer_id,"
        " i.customer_id"
        " FROM fees f JOIN invoices i ON i.id = f.invoice_id"
        " ORDER BY f.subscription_id, f.fee_type, f.charge_id, f.charge_filter_id, f.grouped_by::text",
        "SELECT s.subscription_id, s.invoicing_reason, s.period_start, s.timestamp, s.from_datetime,"
        " s.to_datetime, s.charges_from_datetime, s.charges_to_datetime, i.customer_id, s.organization_id"
        " FROM invoice_subscriptions s JOIN invoices i ON i.id = s.invoice_id ORDER BY s.subscription_id",
        "SELECT i.customer_id, t.tax_id, t.tax_code, t.tax_name, t.tax_description, t.tax_rate,"
        " t.amount_cents,"
        " t.amount_currency, t.fees_amount_cents, t.organization_id"
        " FROM applied_taxes t JOIN invoices i ON i.id = t.invoice_id ORDER BY i.customer_id, t.tax_code",
        "SELECT organization_id, scope, last_value FROM invoice_sequences ORDER BY scope",
    ):
        rows = c.execute(text(q)).all()
        digest.update(repr([tuple(r) for r in rows]).encode())
        if "--dump" in sys.argv:
            with open(sys.argv[sys.argv.index("--dump") + 1], "a") as out:
                for r in rows[:50]:
                    out.write(repr(tuple(r)) + "\n")
    counts = c.execute(
        text(
            "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM fees),"
            " (SELECT count(*) FROM applied_taxes)"
        )
    ).one()
print(
    f"{os.path.dirname(billow.__file__)}: {k} subs, {summary.invoices_created} invoices,"
    f" failed {len(summary.failed)};"
    f" {wall:.2f} s wall = {wall / k * 1000:.2f} ms/inv; CPU {cpu / k * 1000:.2f} ms/inv;"
    f" statements {sum(stmts.values()) / k:.2f}/inv, commits {tx['commit'] / k:.2f}/inv;"
    f" rows {tuple(counts)}; checksum {digest.hexdigest()[:16]}; load {os.getloadavg()[0]:.1f}"
)
if "--statements" in sys.argv:
    for s, c in stmts.most_common(30):
        print(f"  {c / k:5.2f} {s}")
if prof:
    st = pstats.Stats(prof, stream=sys.stdout)
    st.sort_stats("cumulative").print_stats(60)
    st.sort_stats("tottime").print_stats(40)
