"""The billing scan's batches: every due subscription in exactly one batch, stable keys."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from billow.billing.tasks import batches


def test_no_subscription_no_batch() -> None:
    assert batches([], 500) == []


def test_small_runs_are_one_batch() -> None:
    ids = [uuid.uuid4() for _ in range(100)]
    [batch] = batches(ids, 500)
    assert batch.key == "0/1"
    assert str(batch).split(",") == [str(i) for i in ids]


@given(st.lists(st.uuids(), unique=True, max_size=2000), st.integers(min_value=1, max_value=300))
def test_every_subscription_in_exactly_one_batch(ids: list[uuid.UUID], size: int) -> None:
    found = batches(ids, size)
    listed = [part for batch in found for part in str(batch).split(",")]
    assert sorted(listed) == sorted(str(i) for i in ids)
    assert len({batch.key for batch in found}) == len(found)
    buckets = {int(batch.key.split("/")[1]) for batch in found}
    assert len(buckets) <= 1
    if ids:
        # about `size` per batch: the number of buckets is the smallest power of two that fits them
        (count,) = buckets
        assert count * size >= len(ids) and (count == 1 or (count // 2) * size < len(ids))


def test_a_subscription_keeps_its_bucket_while_the_bucket_count_holds() -> None:
    ids = [uuid.uuid4() for _ in range(250)]
    first = {i: b.key for b in batches(ids, 100) for i in str(b).split(",")}
    second = {i: b.key for b in batches(ids[:-10], 100) for i in str(b).split(",")}
    assert all(first[i] == key for i, key in second.items())


@given(
    st.lists(st.uuids(), min_size=1, max_size=30, unique=True),
    st.lists(st.integers(min_value=0, max_value=29), min_size=1, max_size=600),
    st.integers(min_value=1, max_value=50),
)
def test_a_customers_subscriptions_share_one_batch(
    customers: list[uuid.UUID], owners: list[int], size: int
) -> None:
    """Bucketed by customer: a customer's subscriptions due at one instant are billed on one invoice by
    one job (billow.billing.run.bill_subscriptions)."""
    owner_of = {uuid.uuid4(): customers[index % len(customers)] for index in owners}
    found = batches(list(owner_of), size, customers=owner_of)
    listed = [uuid.UUID(part) for batch in found for part in str(batch).split(",")]
    assert sorted(listed) == sorted(owner_of)
    batch_of_customer: dict[uuid.UUID, str] = {}
    for batch in found:
        for part in str(batch).split(","):
            customer = owner_of[uuid.UUID(part)]
            assert batch_of_customer.setdefault(customer, batch.key) == batch.key
