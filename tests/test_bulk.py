"""core.bulk.insert_rows writes what bulk_create would, and the table's constraints still hold."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from collision.models import CheckOutcome, CollisionResult, ResultRow
from core.bulk import insert_rows

pytestmark = pytest.mark.django_db


def test_rows_and_shared_values_read_back_as_written(partner, make_leads):
    first, second = make_leads(2)
    when = datetime(2026, 11, 28, 3, 4, 5, tzinfo=UTC)
    rows = [
        (first.pk, CheckOutcome.ANSWERED, 0, True, True, ""),
        (second.pk, CheckOutcome.NO_ANSWER, None, None, False, "批量应答中缺少该哈希"),
    ]

    insert_rows(
        CollisionResult,
        ResultRow._fields,
        rows,
        shared={"partner": partner, "job": None, "audit_entry": None, "checked_at": when},
    )

    stored = {r.lead_id: r for r in CollisionResult.objects.all()}
    assert stored[first.pk].is_marketable and stored[first.pk].user_status == 0
    assert stored[second.pk].outcome == CheckOutcome.NO_ANSWER
    assert stored[second.pk].message == "批量应答中缺少该哈希"
    assert {r.checked_at for r in stored.values()} == {when}
    assert {r.partner_id for r in stored.values()} == {partner.pk}


def test_a_row_breaking_a_constraint_fails_the_whole_insert(partner, make_leads):
    good, bad = make_leads(2)
    rows = [
        ResultRow(good.pk, CheckOutcome.ANSWERED, 0, True, True),
        ResultRow(bad.pk, CheckOutcome.ANSWERED, None, None, False),  # answered without a status
    ]

    with pytest.raises(IntegrityError), transaction.atomic():
        CollisionResult.objects.record(rows, partner=partner, audit_entry=None)

    assert not CollisionResult.objects.exists()
